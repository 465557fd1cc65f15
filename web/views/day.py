"""The day list (``/day/``): the visits of a site and practitioner on a day (default: mine,
today), with status and waiting time; check-in from the row. Its rows are a partial (``#rows``)
so a live update can re-fetch them alone (phase 2)."""

from __future__ import annotations

import contextlib
import datetime
from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinic.facade import sites
from encounters.contracts import DayListQuery
from encounters.facade import InvalidTransition, check_in, day_list, practitioner_for_user, practitioners
from identity.facade import get_patients
from web.access import WebRequest, may_see_clinical, page, safe_next
from web.display import PatientView, patient_view

STATUS_LABELS = {
    "booked": "Booked",
    "arrived": "Arrived",
    "in-progress": "In progress",
    "finished": "Finished",
    "cancelled": "Cancelled",
    "planned": "Planned",
}


@dataclass(frozen=True)
class Row:
    key: str
    time: str
    patient: PatientView
    status: str
    status_label: str
    waiting_minutes: int | None
    reason: str
    appointment_id: UUID | None
    encounter_id: UUID | None
    open_url: str


@require_GET
@page()
def day_list_page(request: WebRequest) -> HttpResponse:
    tenant_id = request.principal.tenant.id
    all_sites = sites(tenant_id=tenant_id)
    if not all_sites:
        return render(request, "web/day.html", {"no_sites": True})
    site = next((s for s in all_sites if str(s.id) == request.GET.get("site")), all_sites[0])
    zone = ZoneInfo(site.timezone)
    today = timezone.now().astimezone(zone).date()
    try:
        on = datetime.date.fromisoformat(request.GET.get("date", "")) if request.GET.get("date") else today
    except ValueError:
        on = today
    people = [p for p in practitioners(tenant_id=tenant_id) if site.id in p.site_ids]
    mine = practitioner_for_user(tenant_id=tenant_id, user_id=int(request.principal.id))
    chosen = request.GET.get("practitioner") or (str(mine.id) if mine else "all")
    practitioner = next((p for p in people if str(p.id) == chosen), None)
    visits = day_list(
        tenant_id=tenant_id,
        query=DayListQuery(site_id=site.id, on=on, practitioner_id=practitioner.id if practitioner else None),
        site_timezone=site.timezone,
    )
    records = get_patients(tenant_id=tenant_id, patient_ids=[v.patient_id for v in visits])
    now = timezone.now()
    clinical = may_see_clinical(request.principal)
    rows = []
    for v in visits:
        if v.patient_id not in records:
            continue
        waiting = None
        if v.arrived_at and v.status == "arrived":
            waiting = int((now - v.arrived_at).total_seconds() // 60)
        when = v.start_at or v.arrived_at
        open_url = f"/encounters/{v.encounter_id}/" if clinical and v.encounter_id else f"/patients/{v.patient_id}/"
        rows.append(
            Row(
                key=str(v.appointment_id or v.encounter_id),
                time=when.astimezone(zone).strftime("%H:%M") if when else "",
                patient=patient_view(records[v.patient_id], today=on),
                status=v.status,
                status_label=STATUS_LABELS.get(v.status, v.status),
                waiting_minutes=waiting,
                reason=v.reason,
                appointment_id=v.appointment_id,
                encounter_id=v.encounter_id,
                open_url=open_url,
            )
        )
    context = {
        "site": site,
        "sites": all_sites,
        "people": people,
        "chosen": str(practitioner.id) if practitioner else "all",
        "practitioner": practitioner,
        "mine": mine,
        "on": on,
        "is_today": on == today,
        "rows": rows,
        "here": request.get_full_path(),
    }
    if request.htmx and request.htmx.target == "day-rows":  # type: ignore[attr-defined]
        return render(request, "web/day.html#rows", context)
    return render(request, "web/day.html", context)


@require_POST
@page()
def check_in_page(request: WebRequest, appointment_id: UUID) -> HttpResponse:
    """Check the patient in (the encounter opens), back to the page the desk was on."""
    back = safe_next(request, request.POST.get("next"), "/day/")
    # Cancelled meanwhile: the list shows it as it is now.
    with contextlib.suppress(InvalidTransition):
        check_in(tenant_id=request.principal.tenant.id, appointment_id=appointment_id, actor=request.principal.actor)
    return HttpResponseRedirect(back)
