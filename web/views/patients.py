"""Patient search and registration (``/patients/``) and the patient's record (``/patients/<id>/``)."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinic.facade import sites
from encounters.facade import appointments_of_patient, practitioners
from identity.contracts import NHS_NUMBER_SYSTEM, ContactPoint, Demographics, Gender, HumanName, IdentifierInput
from identity.facade import (
    IdentifierConflict,
    InvalidPatient,
    ProbableDuplicate,
    find_patients,
    get_patient,
    match_patients,
    register_patient,
)
from web.access import WebRequest, page
from web.display import patient_view
from web.forms import RegisterForm

# Where identity names a problem → the form field that shows it.
FIELD_OF_PROBLEM = {
    "name.family": "family",
    "name.given": "given",
    "birth_date": "birth_date",
    "identifiers[0].value": "nhs_number",
    "identifiers[0]": "nhs_number",
    "Idempotency-Key": "family",
}


@require_GET
@page()
def patients(request: WebRequest) -> HttpResponse:
    """Search by name (+ date of birth), MRN or NHS number; type-ahead answers the results
    fragment alone."""
    context = _search_context(request)
    if request.htmx and request.htmx.target == "patient-results":  # type: ignore[attr-defined]
        return render(request, "web/patients.html#results", context)
    context["form"] = RegisterForm()
    return render(request, "web/patients.html", context)


def _search_context(request: WebRequest) -> dict[str, Any]:
    query = request.GET.get("q", "").strip()[:100]
    born_text = request.GET.get("born", "").strip()
    born = None
    born_error = ""
    if born_text:
        try:
            born = datetime.date.fromisoformat(born_text)
        except ValueError:
            born_error = "Enter a real date of birth"
    today = timezone.localdate()
    found = (
        find_patients(tenant_id=request.principal.tenant.id, text=query, birth_date=born)
        if query and not born_error
        else []
    )
    return {
        "query": query,
        "born": born_text,
        "born_error": born_error,
        "results": [patient_view(p, today=today) for p in found],
        "searched": bool(query),
    }


@require_POST
@page()
def register(request: WebRequest) -> HttpResponse:
    """Register a patient. The identity match runs first: probable duplicates are shown with
    why they match, and the user opens one ("this is them") or confirms a new patient. The
    form's idempotency key makes a double-submitted form one patient."""
    form = RegisterForm(request.POST)
    context: dict[str, Any] = {"query": "", "results": [], "searched": False}
    if not form.is_valid():
        return render(request, "web/patients.html", {**context, "form": form}, status=422)
    data = form.cleaned_data
    identifiers = [IdentifierInput(system=NHS_NUMBER_SYSTEM, value=data["nhs_number"])] if data["nhs_number"] else []
    demographics = Demographics(
        name=HumanName(family=data["family"].strip(), given=tuple(data["given"].split())),
        birth_date=data["birth_date"],
        gender=Gender(data["sex"]),
        telecom=(ContactPoint(system="phone", value=data["phone"]),) if data["phone"] else (),
    )
    tenant_id = request.principal.tenant.id
    try:
        # The registration is the use case's own transaction (the facade opens it: a page runs in
        # none); this block only makes that explicit, and a savepoint inside a test's transaction.
        with transaction.atomic():
            registration = register_patient(
                tenant_id=tenant_id,
                identifiers=identifiers,
                demographics=demographics,
                confirm_new=data["confirm_new"],
                idempotency_key=data["idempotency_key"],
                actor=request.principal.actor,
            )
    except ProbableDuplicate:
        today = timezone.localdate()
        candidates = match_patients(tenant_id=tenant_id, demographics=demographics, identifiers=identifiers)
        context["duplicates"] = [
            {"patient": patient_view(c.patient, today=today), "grade": c.grade.value, "why": _why(c.rule)}
            for c in candidates
        ]
        return render(request, "web/patients.html", {**context, "form": form}, status=409)
    except InvalidPatient as exc:
        for problem in exc.problems:
            form.add_error(FIELD_OF_PROBLEM.get(problem.field), _sentence(problem.message))
        return render(request, "web/patients.html", {**context, "form": form}, status=422)
    except IdentifierConflict as exc:
        form.add_error("nhs_number", exc.message)
        return render(request, "web/patients.html", {**context, "form": form}, status=409)
    note = "registered" if registration.created else "existing"
    return HttpResponseRedirect(f"/patients/{registration.patient.id}/?{note}=1")


@require_GET
@page()
def patient(request: WebRequest, patient_id: UUID) -> HttpResponse:
    tenant_id = request.principal.tenant.id
    record = get_patient(tenant_id=tenant_id, patient_id=patient_id)
    now = timezone.now()
    tenant_sites = sites(tenant_id=tenant_id)
    zone = ZoneInfo(tenant_sites[0].timezone if tenant_sites else "UTC")
    today = now.astimezone(zone).date()
    start_of_today = datetime.datetime.combine(today, datetime.time.min, tzinfo=zone)
    appointments = [
        {
            "ref": a,
            "when": a.slot.start_at.astimezone(zone).strftime("%a %d %b %Y, %H:%M"),
            "today": a.slot.start_at.astimezone(zone).date() == today,
        }
        for a in appointments_of_patient(tenant_id=tenant_id, patient_id=record.id, since=start_of_today)
    ]
    notices = {
        "booked": "Appointment booked.",
        "rescheduled": "Appointment moved.",
        "cancelled": "Appointment cancelled.",
        "checked_in": "Checked in: the patient is on the day list as arrived.",
        "not_cancelled": "This appointment can no longer be cancelled.",
    }
    context = {
        "patient": patient_view(record, today=today),
        "registered": "registered" in request.GET,
        "existing": "existing" in request.GET,
        "notice": next((text for key, text in notices.items() if key in request.GET), ""),
        "appointments": appointments,
        "people": practitioners(tenant_id=tenant_id),
    }
    return render(request, "web/patient.html", context)


def _why(rule: str) -> str:
    """A match rule (``family+given+birth_date``) in words."""
    words = {
        "identifier": "an identifier in common",
        "family": "family name",
        "given": "given name",
        "birth_date": "date of birth",
        "birth_year": "year of birth",
        "phone": "phone",
        "gender": "sex",
        "family~1": "family name within one letter",
    }
    parts = [words.get(part, part.replace("_", " ")) for part in rule.replace(" ", "").split("+")]
    return "Same " + ", ".join(parts)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]
