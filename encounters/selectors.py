"""Encounter reads."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from clinic.rows import ReadView
from encounters import sql
from encounters.contracts import EncounterRef, EncounterStatus
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
