"""Encounter reads."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from clinic.rows import ReadView
from encounters import sql
from encounters.contracts import (
    AppointmentRef,
    AppointmentStatus,
    DayListRow,
    EncounterRef,
    EncounterStatus,
    PractitionerRef,
    SlotRef,
    TimelineItem,
)
from encounters.errors import AppointmentNotFound, EncounterNotFound
from encounters.models import Appointment, Encounter, Practitioner, Slot, TimelineEntry


def site_exists(*, tenant_id: int, site_id: int) -> bool:
    from clinic.facade import site_ids

    return site_id in site_ids(tenant_id=tenant_id)


def practitioners(*, tenant_id: int) -> QuerySet[Practitioner]:
    return Practitioner.objects.filter(tenant_id=tenant_id, active=True).prefetch_related("sites").order_by("name")


def _booked() -> Exists:
    return Exists(Appointment.objects.filter(slot=OuterRef("pk")).exclude(status=Appointment.Status.CANCELLED))


def slots(
    *, tenant_id: int, practitioner_id: int | None = None, on: date | None = None, free: bool = False
) -> QuerySet[Slot]:
    qs = Slot.objects.filter(tenant_id=tenant_id).annotate(booked=_booked()).order_by("start_at", "id")
    if practitioner_id is not None:
        qs = qs.filter(practitioner_id=practitioner_id)
    if on is not None:
        start = timezone.make_aware(datetime.combine(on, datetime.min.time()))
        qs = qs.filter(start_at__gte=start, start_at__lt=start + timedelta(days=1))
    if free:
        qs = qs.filter(booked=False, blocked=False, start_at__gt=timezone.now())
    return qs


def free_slots(*, tenant_id: int, practitioner_id: int, after: datetime) -> QuerySet[Slot]:
    return slots(tenant_id=tenant_id, practitioner_id=practitioner_id, free=True).filter(start_at__gt=after)


def get_appointment(*, tenant_id: int, appointment_id: UUID) -> Appointment:
    found = Appointment.objects.select_related("slot").filter(tenant_id=tenant_id, pk=appointment_id).first()
    if found is None:
        raise AppointmentNotFound("No such appointment.")
    return found


def get_encounter_row(*, tenant_id: int, encounter_id: UUID) -> Encounter:
    found = Encounter.objects.filter(tenant_id=tenant_id, pk=encounter_id).first()
    if found is None:
        raise EncounterNotFound("No such encounter.")
    return found


def get_encounter_ref(*, tenant_id: int, encounter_id: UUID) -> EncounterRef:
    """Raises EncounterNotFound (also for another tenant's encounter)."""
    return encounter_ref(get_encounter_row(tenant_id=tenant_id, encounter_id=encounter_id))


def find_encounter_by_visit_number(*, tenant_id: int, visit_number: str) -> EncounterRef | None:
    found = Encounter.objects.filter(tenant_id=tenant_id, visit_number=visit_number).first()
    return encounter_ref(found) if found else None


def encounter_exists(*, encounter_id: UUID) -> bool:
    """In any tenant (operators' commands)."""
    return Encounter.objects.filter(pk=encounter_id).exists()


def every_encounter_id() -> list[UUID]:
    """Of every tenant (operators' commands)."""
    return list(Encounter.objects.values_list("pk", flat=True))  # newest first (Meta.ordering)


def encounter_ref(encounter: Encounter) -> EncounterRef:
    return EncounterRef(
        id=encounter.pk,
        tenant_id=encounter.tenant_id,
        patient_id=encounter.patient_id,
        site_id=encounter.site_id,
        practitioner_id=encounter.practitioner_id,
        visit_number=encounter.visit_number,
        status=EncounterStatus(encounter.status),
        period_start=encounter.period_start,
        period_end=encounter.period_end,
    )


def active_encounter_id(*, tenant_id: int, patient_id: UUID, site_id: int) -> UUID | None:
    return (
        Encounter.objects.filter(
            tenant_id=tenant_id, patient_id=patient_id, site_id=site_id, status=EncounterStatus.IN_PROGRESS
        )
        .values_list("pk", flat=True)
        .first()
    )


def active_encounter_ids(*, tenant_id: int, patient_id: UUID) -> list[UUID]:
    """The patient's encounters in progress at any site, oldest first (one prepared statement:
    every lab result asks)."""
    return sql.active_encounter_ids(tenant_id=tenant_id, patient_id=patient_id)


def timeline(*, tenant_id: int, encounter_id: UUID) -> QuerySet[TimelineEntry]:
    """In the order things happened (recorded), not the order deliveries landed (parallel
    workers)."""
    return TimelineEntry.objects.filter(tenant_id=tenant_id, encounter_id=encounter_id).order_by("recorded_at", "id")


def timeline_after(*, tenant_id: int, encounter_id: UUID, after_seq: int) -> QuerySet[TimelineEntry]:
    """Entries appended after ``after_seq``, in the order they were appended (the live stream)."""
    return TimelineEntry.objects.filter(tenant_id=tenant_id, encounter_id=encounter_id, seq__gt=after_seq).order_by(
        "seq"
    )


def timeline_json(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "seq": entry.seq,
        "event_id": str(entry.event_id),
        "type": entry.type,
        "occurred_at": entry.occurred_at.isoformat(),
        "recorded_at": entry.recorded_at.isoformat(),
        "summary": entry.summary,
        "reference": entry.reference,
    }


def timeline_pushes(*, tenant_id: int, event_ids: list[UUID]) -> list[dict[str, str | None]]:
    """One row per timeline entry of these events: ``event``, ``encounter``, ``added_at`` (when
    the entry was written), ``pushed_at`` (when it was published to live viewers, or None)."""
    rows = (
        TimelineEntry.objects.filter(tenant_id=tenant_id, event_id__in=event_ids)
        .order_by("created_at")
        .values_list("event_id", "encounter_id", "created_at", "pushed_at")
    )
    return [
        {
            "event": str(event_id),
            "encounter": str(encounter_id),
            "added_at": created_at.isoformat(),
            "pushed_at": pushed_at.isoformat() if pushed_at else None,
        }
        for event_id, encounter_id, created_at, pushed_at in rows
    ]


# --- Read views (clinic.rows): the FHIR API's Practitioner, Appointment and Encounter ---------

READ_VIEWS = {
    "practitioner": ReadView(
        model=Practitioner,
        fields={"id": "id", "name": "name", "active": "active", "created_at": "created_at"},
    ),
    "appointment": ReadView(
        model=Appointment,
        fields={
            "id": "id",
            "patient": "patient_id",
            "practitioner": "slot__practitioner_id",
            "site": "slot__site_id",
            "start_at": "slot__start_at",
            "end_at": "slot__end_at",
            "reason": "reason",
            "status": "status",
            "rescheduled_from": "rescheduled_from_id",
            "created_at": "created_at",
            "updated_at": "updated_at",
            "cancelled_at": "cancelled_at",
        },
    ),
    "encounter": ReadView(
        model=Encounter,
        fields={
            "id": "id",
            "patient": "patient_id",
            "site": "site_id",
            "practitioner": "practitioner_id",
            "appointment": "appointment_id",
            "visit_number": "visit_number",
            "status": "status",
            "period_start": "period_start",
            "period_end": "period_end",
            "version": "version",
            "created_at": "created_at",
            "updated_at": "updated_at",
        },
    ),
}


# --- The web app's screens: practitioners, free slots, appointments, the day list ---------------


def practitioner_ref(practitioner: Practitioner) -> PractitionerRef:
    return PractitionerRef(
        id=practitioner.pk,
        name=practitioner.name,
        site_ids=tuple(sorted(site.pk for site in practitioner.sites.all())),
        user_id=practitioner.user_id,
    )


def practitioner_refs(*, tenant_id: int) -> list[PractitionerRef]:
    return [practitioner_ref(p) for p in practitioners(tenant_id=tenant_id)]


def practitioner_for_user(*, tenant_id: int, user_id: int) -> PractitionerRef | None:
    found = Practitioner.objects.filter(tenant_id=tenant_id, user_id=user_id).prefetch_related("sites").first()
    return practitioner_ref(found) if found else None


def slot_ref(slot: Slot) -> SlotRef:
    return SlotRef(
        id=slot.pk,
        practitioner_id=slot.practitioner_id,
        site_id=slot.site_id,
        start_at=slot.start_at,
        end_at=slot.end_at,
    )


def free_slot_refs(*, tenant_id: int, practitioner_id: int, start: datetime, end: datetime) -> list[SlotRef]:
    """Bookable slots of the practitioner starting in [start, end), in the future."""
    qs = slots(tenant_id=tenant_id, practitioner_id=practitioner_id, free=True).filter(
        start_at__gte=start, start_at__lt=end
    )
    return [slot_ref(s) for s in qs]


def appointment_ref(appointment: Appointment, encounter_id: UUID | None = None) -> AppointmentRef:
    return AppointmentRef(
        id=appointment.pk,
        patient_id=appointment.patient_id,
        slot=slot_ref(appointment.slot),
        practitioner_name=appointment.slot.practitioner.name,
        reason=appointment.reason,
        status=AppointmentStatus(appointment.status),
        encounter_id=encounter_id,
    )


def appointments_of_patient(*, tenant_id: int, patient_id: UUID, since: datetime) -> list[AppointmentRef]:
    """The patient's appointments (not cancelled) from ``since`` on, soonest first."""
    qs = (
        Appointment.objects.filter(tenant_id=tenant_id, patient_id=patient_id, slot__start_at__gte=since)
        .exclude(status=Appointment.Status.CANCELLED)
        .select_related("slot__practitioner", "encounter")
        .order_by("slot__start_at")
    )
    return [appointment_ref(a, _encounter_id(a)) for a in qs]


def _encounter_id(appointment: Appointment) -> UUID | None:
    try:
        return appointment.encounter.pk
    except Encounter.DoesNotExist:
        return None


def get_appointment_ref(*, tenant_id: int, appointment_id: UUID) -> AppointmentRef:
    found = (
        Appointment.objects.select_related("slot__practitioner", "encounter")
        .filter(tenant_id=tenant_id, pk=appointment_id)
        .first()
    )
    if found is None:
        raise AppointmentNotFound("No such appointment.")
    return appointment_ref(found, _encounter_id(found))


def day_list(
    *, tenant_id: int, site_id: int, start: datetime, end: datetime, practitioner_id: int | None
) -> list[DayListRow]:
    """The visits of a site in [start, end): appointments booked or checked in (by their slot's
    time) and walk-ins (by their arrival), of one practitioner or all; in time order. Two
    queries."""
    booked = (
        Appointment.objects.filter(
            tenant_id=tenant_id, slot__site_id=site_id, slot__start_at__gte=start, slot__start_at__lt=end
        )
        .exclude(status=Appointment.Status.CANCELLED)
        .select_related("slot", "encounter")
    )
    walk_ins = Encounter.objects.filter(
        tenant_id=tenant_id, site_id=site_id, appointment__isnull=True, period_start__gte=start, period_start__lt=end
    )
    if practitioner_id is not None:
        booked = booked.filter(slot__practitioner_id=practitioner_id)
        walk_ins = walk_ins.filter(practitioner_id=practitioner_id)
    rows = []
    for a in booked:
        encounter = a.encounter if _encounter_id(a) else None
        rows.append(
            DayListRow(
                patient_id=a.patient_id,
                appointment_id=a.pk,
                encounter_id=encounter.pk if encounter else None,
                start_at=a.slot.start_at,
                arrived_at=encounter.period_start if encounter else None,
                status=encounter.status if encounter else "booked",
                reason=a.reason,
                practitioner_id=a.slot.practitioner_id,
                visit_number=encounter.visit_number if encounter else "",
            )
        )
    for e in walk_ins:
        rows.append(
            DayListRow(
                patient_id=e.patient_id,
                appointment_id=None,
                encounter_id=e.pk,
                start_at=None,
                arrived_at=e.period_start,
                status=e.status,
                reason="Walk-in",
                practitioner_id=e.practitioner_id,
                visit_number=e.visit_number,
            )
        )
    return sorted(rows, key=lambda r: (r.start_at or r.arrived_at or start, str(r.patient_id)))


def timeline_items(*, tenant_id: int, encounter_id: UUID) -> list[TimelineItem]:
    return [
        TimelineItem(seq=t.seq, type=t.type, occurred_at=t.occurred_at, summary=t.summary, reference=t.reference)
        for t in timeline(tenant_id=tenant_id, encounter_id=encounter_id)
    ]
