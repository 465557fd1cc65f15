"""Booking (``/patients/<id>/book``), rescheduling and cancelling, and walk-ins. The free slots
of a practitioner and day are a partial (``#slots``): changing either re-fetches it alone."""

from __future__ import annotations

import datetime
import uuid
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from clinic.contracts import NotFound
from clinic.facade import sites
from encounters.contracts import DayListQuery
from encounters.facade import (
    InvalidTransition,
    SlotInThePast,
    SlotTaken,
    book_appointment,
    cancel_appointment,
    free_slots,
    get_appointment,
    open_walk_in,
    practitioner_for_user,
    practitioners,
    reschedule_appointment,
)
from identity.facade import get_patient
from web.access import WebRequest, page, safe_next
from web.display import patient_view


def _slot_choice(request: WebRequest, patient_id: UUID) -> dict[str, Any]:
    """The practitioner, day and free slots the booking form shows."""
    tenant_id = request.principal.tenant.id
    source = request.POST if request.method == "POST" else request.GET
    site = sites(tenant_id=tenant_id)[0]
    zone = ZoneInfo(site.timezone)
    today = timezone.now().astimezone(zone).date()
    people = practitioners(tenant_id=tenant_id)
    mine = practitioner_for_user(tenant_id=tenant_id, user_id=int(request.principal.id))
    default = str(mine.id) if mine else (str(people[0].id) if people else "")
    chosen = next((p for p in people if str(p.id) == source.get("practitioner", default)), None)
    day_error = ""
    try:
        on = datetime.date.fromisoformat(source.get("date") or today.isoformat())
    except ValueError:
        on, day_error = today, "Enter a real date"
    slots = (
        free_slots(
            tenant_id=tenant_id,
            practitioner_id=chosen.id,
            query=DayListQuery(site_id=site.id, on=on),
            site_timezone=site.timezone,
        )
        if chosen
        else []
    )
    return {
        "patient": patient_view(get_patient(tenant_id=tenant_id, patient_id=patient_id), today=today),
        "people": people,
        "chosen": chosen,
        "on": on,
        "day_error": day_error,
        "slots": [(s.id, s.start_at.astimezone(zone).strftime("%H:%M")) for s in slots],
        "zone": zone,
        "idempotency_key": source.get("idempotency_key") or uuid.uuid4().hex,
        "reason": source.get("reason", ""),
    }


@require_http_methods(["GET", "POST"])
@page()
def book(request: WebRequest, patient_id: UUID) -> HttpResponse:
    context = _slot_choice(request, patient_id)
    context["action"] = f"/patients/{patient_id}/book"
    context["heading"] = "Book an appointment"
    if request.method == "POST" and request.POST.get("slot"):
        try:
            book_appointment(
                tenant_id=request.principal.tenant.id,
                slot_id=int(request.POST["slot"]),
                patient_id=patient_id,
                reason=request.POST.get("reason", "")[:500],
                idempotency_key=request.POST.get("idempotency_key") or None,
                actor=request.principal.actor,
            )
        except (SlotTaken, SlotInThePast) as exc:
            return _taken(request, context, exc)
        except (NotFound, ValueError):
            context["error"] = "That slot does not exist. Choose another."
            return render(request, "web/book.html", context, status=422)
        return HttpResponseRedirect(f"/patients/{patient_id}/?booked=1")
    if request.htmx and request.htmx.target == "slots":  # type: ignore[attr-defined]
        return render(request, "web/book.html#slots", context)
    return render(request, "web/book.html", context)


def _taken(request: WebRequest, context: dict[str, Any], exc: SlotTaken | SlotInThePast) -> HttpResponse:
    """A slot taken a moment ago says so and offers the next free ones."""
    zone = context["zone"]
    offered = exc.extra.get("next_free_slots", []) if isinstance(exc, SlotTaken) else []
    context["error"] = (
        "That slot was booked by someone else a moment ago. Choose another."
        if isinstance(exc, SlotTaken)
        else "That slot has already started. Choose another."
    )
    context["next_free"] = [
        (s["id"], datetime.datetime.fromisoformat(s["start_at"]).astimezone(zone).strftime("%a %d %b, %H:%M"))
        for s in offered
    ]
    context["idempotency_key"] = uuid.uuid4().hex
    return render(request, "web/book.html", context, status=409)


@require_http_methods(["GET", "POST"])
@page()
def reschedule(request: WebRequest, appointment_id: UUID) -> HttpResponse:
    tenant_id = request.principal.tenant.id
    appointment = get_appointment(tenant_id=tenant_id, appointment_id=appointment_id)
    context = _slot_choice(request, appointment.patient_id)
    context["action"] = f"/appointments/{appointment_id}/reschedule"
    context["heading"] = "Move the appointment"
    context["moving"] = appointment
    if request.method == "POST" and request.POST.get("slot"):
        try:
            reschedule_appointment(
                tenant_id=tenant_id,
                appointment_id=appointment_id,
                slot_id=int(request.POST["slot"]),
                actor=request.principal.actor,
            )
        except (SlotTaken, SlotInThePast) as exc:
            return _taken(request, context, exc)
        except InvalidTransition as exc:
            context["error"] = exc.message
            return render(request, "web/book.html", context, status=409)
        return HttpResponseRedirect(f"/patients/{appointment.patient_id}/?rescheduled=1")
    if request.htmx and request.htmx.target == "slots":  # type: ignore[attr-defined]
        return render(request, "web/book.html#slots", context)
    return render(request, "web/book.html", context)


@require_POST
@page()
def cancel(request: WebRequest, appointment_id: UUID) -> HttpResponse:
    tenant_id = request.principal.tenant.id
    appointment = get_appointment(tenant_id=tenant_id, appointment_id=appointment_id)
    try:
        cancel_appointment(tenant_id=tenant_id, appointment_id=appointment_id, actor=request.principal.actor)
    except InvalidTransition:
        return HttpResponseRedirect(f"/patients/{appointment.patient_id}/?not_cancelled=1")
    return HttpResponseRedirect(
        safe_next(request, request.POST.get("next"), f"/patients/{appointment.patient_id}/?cancelled=1")
    )


@require_POST
@page()
def walk_in(request: WebRequest, patient_id: UUID) -> HttpResponse:
    """A visit without an appointment: the encounter opens now, on the day list."""
    tenant_id = request.principal.tenant.id
    get_patient(tenant_id=tenant_id, patient_id=patient_id)  # 404 for another tenant's
    site = sites(tenant_id=tenant_id)[0]
    chosen = request.POST.get("practitioner")
    practitioner_id = next((p.id for p in practitioners(tenant_id=tenant_id) if str(p.id) == chosen), None)
    open_walk_in(
        tenant_id=tenant_id,
        patient_id=patient_id,
        site_id=site.id,
        practitioner_id=practitioner_id,
        actor=request.principal.actor,
    )
    return HttpResponseRedirect(f"/day/?practitioner={practitioner_id or 'all'}")
