"""Scheduling and visits: slots, booking, check-in, the encounter lifecycle, the timeline.

Events published: ``appointment.booked`` / ``cancelled`` / ``rescheduled`` and
``encounter.checked_in`` / ``started`` / ``finished`` / ``cancelled``, with the payloads of
``encounters.contracts`` (docs/events.md lists them).

Transactions: each use case an edge calls (``book``, ``cancel_appointment``, ``reschedule``,
``check_in``, ``open_walk_in``, ``move_encounter``, ``rebuild_timeline``) owns its transaction,
``atomic(durable=True)``: it commits when it returns, and refuses to run inside another
transaction. What other apps' use cases call through the facade (``import_encounter``,
``lock_encounter``) and the timeline subscriber (``add_to_timeline``) run in the caller's
transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from clinic.contracts import Event, FieldProblem, InvalidInput, NotFound
from clinic.facade import claim_idempotency_key, complete_idempotency_key, publish
from encounters import live, selectors, sql
from encounters.contracts import (
    ENCOUNTER_CHECKED_IN,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentEvent,
    AppointmentRescheduled,
    EncounterCancelled,
    EncounterCheckedIn,
    EncounterEvent,
    EncounterFinished,
    EncounterStarted,
    EncounterStatus,
)
from encounters.errors import (
    AlreadyInProgress,
    AppointmentNotFound,
    EncounterNotFound,
    InvalidTransition,
    SlotInThePast,
    SlotNotFound,
    SlotTaken,
    VisitNumberTaken,
)
from encounters.models import Appointment, Encounter, Practitioner, ScheduleTemplate, Slot, TimelineEntry
from identity.facade import lock_patient_for_write

logger = logging.getLogger("encounters")

VISIT_NUMBER_LENGTH = Encounter._meta.get_field("visit_number").max_length or 20


# --- Practitioners, templates, slots -----------------------------------------------------------


def create_practitioner(*, tenant_id: int, name: str, site_ids: list[int]) -> Practitioner:
    if not name.strip():
        raise InvalidInput("A practitioner needs a name.", [FieldProblem("name", "must not be blank")])
    with transaction.atomic(savepoint=False):
        practitioner = Practitioner.objects.create(tenant_id=tenant_id, name=name.strip())
        practitioner.sites.set(site_ids)
    return practitioner


def link_practitioner_to_user(*, tenant_id: int, practitioner_id: int, user_id: int | None) -> None:
    """The staff user who is this practitioner (in the caller's transaction). Raises NotFound."""
    with transaction.atomic(savepoint=False):
        if user_id is not None:
            Practitioner.objects.filter(tenant_id=tenant_id, user_id=user_id).exclude(pk=practitioner_id).update(
                user=None
            )
        if not Practitioner.objects.filter(tenant_id=tenant_id, pk=practitioner_id).update(user_id=user_id):
            raise NotFound("No such practitioner.")


def add_template(
    *,
    tenant_id: int,
    practitioner_id: int,
    site_id: int,
    weekday: int,
    start: str,
    end: str,
    slot_minutes: int = 15,
    valid_from: date,
) -> ScheduleTemplate:
    return ScheduleTemplate.objects.create(
        tenant_id=tenant_id,
        practitioner_id=practitioner_id,
        site_id=site_id,
        weekday=weekday,
        start_time=start,
        end_time=end,
        slot_minutes=slot_minutes,
        valid_from=valid_from,
    )


def generate_slots(*, tenant_id: int, start: date, days: int) -> int:
    """Create the slots of every schedule template for ``days`` days from ``start``, in each
    site's time zone (idempotent: existing slots are kept). Returns how many are new."""
    templates = ScheduleTemplate.objects.filter(tenant_id=tenant_id).select_related("site")
    rows = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for t in templates:
            if t.weekday != day.weekday() or day < t.valid_from or (t.valid_to and day >= t.valid_to):
                continue
            zone = ZoneInfo(t.site.timezone)
            at = datetime.combine(day, t.start_time, tzinfo=zone)
            end = datetime.combine(day, t.end_time, tzinfo=zone)
            while at + timedelta(minutes=t.slot_minutes) <= end:
                rows.append(
                    Slot(
                        tenant_id=tenant_id,
                        practitioner_id=t.practitioner_id,
                        site_id=t.site_id,
                        start_at=at,
                        end_at=at + timedelta(minutes=t.slot_minutes),
                    )
                )
                at += timedelta(minutes=t.slot_minutes)
    before = Slot.objects.filter(tenant_id=tenant_id).count()
    Slot.objects.bulk_create(rows, ignore_conflicts=True)  # existing slots are kept as they are
    return Slot.objects.filter(tenant_id=tenant_id).count() - before


# --- Booking ------------------------------------------------------------------------------------


def book(
    *, tenant_id: int, slot_id: int, patient_id: UUID, reason: str = "", idempotency_key: str | None = None, actor: str
) -> tuple[Appointment, bool]:
    """Book a slot for a patient; returns (appointment, created). The use case: commits.

    A slot is booked at most once (a partial unique constraint): the loser of a race gets
    SlotTaken with the practitioner's next free slots. With ``idempotency_key`` a retry returns
    the first appointment. Raises SlotNotFound, SlotInThePast, SlotTaken, NotFound (patient).
    """
    with transaction.atomic(durable=True):
        return _book(
            tenant_id=tenant_id,
            slot_id=slot_id,
            patient_id=patient_id,
            reason=reason,
            idempotency_key=idempotency_key,
            actor=actor,
        )


def _book(
    *, tenant_id: int, slot_id: int, patient_id: UUID, reason: str, idempotency_key: str | None, actor: str
) -> tuple[Appointment, bool]:
    """``book`` in the caller's transaction (``book``'s own, or ``reschedule``'s)."""
    if idempotency_key is not None:
        replay = claim_idempotency_key(
            tenant_id=tenant_id,
            scope="encounters.book",
            key=idempotency_key,
            request={"slot": slot_id, "patient": str(patient_id), "reason": reason},
        )
        if replay is not None:
            return Appointment.objects.get(pk=replay.result["appointment_id"]), False
    slot = Slot.objects.filter(tenant_id=tenant_id, pk=slot_id).first()
    if slot is None:
        raise SlotNotFound("No such slot.")
    if slot.start_at <= timezone.now():
        raise SlotInThePast("This slot has already started.", [FieldProblem("slot", "is in the past")])
    if slot.blocked:
        raise SlotTaken("This slot is blocked.", extra={"next_free_slots": _next_free(slot)})
    patient_id = lock_patient_for_write(tenant_id=tenant_id, patient_id=patient_id)
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                tenant_id=tenant_id, slot=slot, patient_id=patient_id, reason=reason
            )
    except IntegrityError:
        raise SlotTaken(
            "This slot was just booked by someone else.", extra={"next_free_slots": _next_free(slot)}
        ) from None
    _publish_appointment(AppointmentBooked, appointment, slot)
    if idempotency_key is not None:
        complete_idempotency_key(
            tenant_id=tenant_id,
            scope="encounters.book",
            key=idempotency_key,
            result={"appointment_id": str(appointment.pk)},
        )
    return appointment, True


def _next_free(slot: Slot, count: int = 5) -> list[dict[str, Any]]:
    return [
        {"id": s.pk, "start_at": s.start_at.isoformat(), "end_at": s.end_at.isoformat()}
        for s in selectors.free_slots(
            tenant_id=slot.tenant_id, practitioner_id=slot.practitioner_id, after=slot.start_at
        )[:count]
    ]


def _publish_appointment(contract: type[AppointmentEvent], appointment: Appointment, slot: Slot, **extra: UUID) -> None:
    publish(
        payload=contract(
            appointment_id=appointment.pk,
            slot_id=slot.pk,
            start_at=slot.start_at,
            practitioner_id=slot.practitioner_id,
            **extra,
        ),
        tenant_id=appointment.tenant_id,
        patient_id=appointment.patient_id,
    )


def _appointment_for_update(tenant_id: int, appointment_id: UUID) -> Appointment:
    appointment = (
        Appointment.objects.select_for_update()
        .select_related("slot")
        .filter(tenant_id=tenant_id, pk=appointment_id)
        .first()
    )
    if appointment is None:
        raise AppointmentNotFound("No such appointment.")
    return appointment


def cancel_appointment(*, tenant_id: int, appointment_id: UUID, actor: str) -> Appointment:
    """Cancel a booked appointment (the slot is free again); the use case: commits. Cancelling
    twice is a no-op. Raises AppointmentNotFound, InvalidTransition (already checked in)."""
    with transaction.atomic(durable=True):
        appointment = _appointment_for_update(tenant_id, appointment_id)
        if appointment.status == Appointment.Status.CANCELLED:
            return appointment
        if appointment.status != Appointment.Status.BOOKED:
            raise InvalidTransition("A checked-in appointment cannot be cancelled; cancel the encounter.")
        appointment.status = Appointment.Status.CANCELLED
        appointment.cancelled_at = timezone.now()
        appointment.save(update_fields=["status", "cancelled_at", "updated_at"])
        _publish_appointment(AppointmentCancelled, appointment, appointment.slot)
    return appointment


def reschedule(*, tenant_id: int, appointment_id: UUID, slot_id: int, actor: str) -> Appointment:
    """Move a booked appointment to another slot, atomically: the old one is cancelled only if
    the new slot could be booked. The use case: commits. Raises what ``book`` and
    ``cancel_appointment`` raise."""
    with transaction.atomic(durable=True):
        lock_patient_for_write(
            tenant_id=tenant_id,
            patient_id=selectors.get_appointment(tenant_id=tenant_id, appointment_id=appointment_id).patient_id,
        )
        old = _appointment_for_update(tenant_id, appointment_id)
        if old.status != Appointment.Status.BOOKED:
            raise InvalidTransition(f"Only a booked appointment can be rescheduled (this one is {old.status}).")
        old.status = Appointment.Status.CANCELLED
        old.cancelled_at = timezone.now()
        old.save(update_fields=["status", "cancelled_at", "updated_at"])
        new, _ = _book(
            tenant_id=tenant_id,
            slot_id=slot_id,
            patient_id=old.patient_id,
            reason=old.reason,
            idempotency_key=None,
            actor=actor,
        )
        Appointment.objects.filter(pk=new.pk).update(rescheduled_from=old)
        _publish_appointment(AppointmentRescheduled, old, old.slot, new_appointment_id=new.pk)
    return Appointment.objects.get(pk=new.pk)


# --- Encounters ---------------------------------------------------------------------------------


def lock_encounter(*, tenant_id: int, encounter_id: UUID) -> Encounter:
    """The encounter, locked (``FOR NO KEY UPDATE``) until the caller's transaction ends: its
    status cannot change meanwhile, while rows referring to it can still be added. Raises
    EncounterNotFound."""
    found = Encounter.objects.select_for_update(no_key=True).filter(tenant_id=tenant_id, pk=encounter_id).first()
    if found is None:
        raise EncounterNotFound("No such encounter.")
    return found


def _visit_number() -> str:
    return f"V{sql.next_visit_number():08d}"


def _publish_encounter(
    contract: type[EncounterEvent], encounter: Encounter, *, occurred_at: datetime | None = None
) -> None:
    publish(
        payload=contract(
            encounter_id=encounter.pk,
            visit_number=encounter.visit_number,
            appointment_id=encounter.appointment_id,
            status=EncounterStatus(encounter.status),
        ),
        tenant_id=encounter.tenant_id,
        patient_id=encounter.patient_id,
        encounter_id=encounter.pk,
        occurred_at=occurred_at,
    )


def check_in(*, tenant_id: int, appointment_id: UUID, actor: str) -> tuple[Encounter, bool]:
    """Check an appointment in: its encounter (arrived) is created; returns (encounter, created).
    The use case: commits. Checking in twice returns the same encounter. Raises
    AppointmentNotFound, InvalidTransition."""
    with transaction.atomic(durable=True):
        # The patient first, then the appointment (the order a merge takes them in).
        lock_patient_for_write(
            tenant_id=tenant_id,
            patient_id=selectors.get_appointment(tenant_id=tenant_id, appointment_id=appointment_id).patient_id,
        )
        appointment = _appointment_for_update(tenant_id, appointment_id)
        existing = Encounter.objects.filter(appointment=appointment).first()
        if existing is not None:
            return existing, False
        if appointment.status != Appointment.Status.BOOKED:
            raise InvalidTransition(f"This appointment is {appointment.status}; it cannot be checked in.")
        patient_id = lock_patient_for_write(tenant_id=tenant_id, patient_id=appointment.patient_id)
        encounter = Encounter.objects.create(
            tenant_id=tenant_id,
            patient_id=patient_id,
            site_id=appointment.slot.site_id,
            practitioner_id=appointment.slot.practitioner_id,
            appointment=appointment,
            visit_number=_visit_number(),
            status=EncounterStatus.ARRIVED,
            period_start=timezone.now(),
        )
        appointment.status = Appointment.Status.CHECKED_IN
        appointment.save(update_fields=["status", "updated_at"])
        _publish_encounter(EncounterCheckedIn, encounter)
    return encounter, True


def open_walk_in(
    *, tenant_id: int, patient_id: UUID, site_id: int, practitioner_id: int | None = None, actor: str
) -> Encounter:
    """A visit without an appointment (arrived now). The use case: commits. Raises NotFound for
    an unknown site, practitioner or patient."""
    with transaction.atomic(durable=True):
        if not selectors.site_exists(tenant_id=tenant_id, site_id=site_id):
            raise NotFound("No such site.")
        if (
            practitioner_id is not None
            and not Practitioner.objects.filter(tenant_id=tenant_id, pk=practitioner_id).exists()
        ):
            raise NotFound("No such practitioner.")
        patient_id = lock_patient_for_write(tenant_id=tenant_id, patient_id=patient_id)
        encounter = Encounter.objects.create(
            tenant_id=tenant_id,
            patient_id=patient_id,
            site_id=site_id,
            practitioner_id=practitioner_id,
            visit_number=_visit_number(),
            status=EncounterStatus.ARRIVED,
            period_start=timezone.now(),
        )
        _publish_encounter(EncounterCheckedIn, encounter)
    return encounter


def import_encounter(
    *,
    tenant_id: int,
    patient_id: UUID,
    site_id: int,
    visit_number: str,
    status: EncounterStatus,
    period_start: datetime | None,
    period_end: datetime | None,
    actor: str,
) -> tuple[Encounter, bool]:
    """Record a visit that happened elsewhere or earlier (a record brought in from another
    system), as it was; returns (encounter, created).

    Runs in the caller's transaction (the Synthea loader's), or in one of its own.
    Idempotent on (tenant, visit number): a second import of the visit returns the encounter
    the first one made, unchanged. A new encounter publishes ``encounter.checked_in`` dated at
    its start, so its timeline begins where the visit began. Raises InvalidInput (blank or too
    long visit number, end before start), NotFound (site, patient), VisitNumberTaken (the
    visit number is another patient's visit), AlreadyInProgress.
    """
    visit_number = visit_number.strip()
    problems: list[FieldProblem] = []
    if not visit_number:
        problems.append(FieldProblem("visit_number", "must not be blank"))
    elif len(visit_number) > VISIT_NUMBER_LENGTH:
        problems.append(FieldProblem("visit_number", f"must be at most {VISIT_NUMBER_LENGTH} characters"))
    if period_start is not None and period_end is not None and period_end < period_start:
        problems.append(FieldProblem("period_end", "is before period_start"))
    if problems:
        raise InvalidInput("The encounter is not valid.", problems)
    with transaction.atomic(savepoint=False):
        if not selectors.site_exists(tenant_id=tenant_id, site_id=site_id):
            raise NotFound("No such site.")
        patient_id = lock_patient_for_write(tenant_id=tenant_id, patient_id=patient_id)
        existing = _imported(tenant_id, visit_number, patient_id)
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                encounter = Encounter.objects.create(
                    tenant_id=tenant_id,
                    patient_id=patient_id,
                    site_id=site_id,
                    visit_number=visit_number,
                    status=status,
                    period_start=period_start,
                    period_end=period_end,
                )
        except IntegrityError:
            # A concurrent import of the same visit committed first (we waited for it on the
            # unique index): return it. Otherwise the patient already has a visit in progress.
            existing = _imported(tenant_id, visit_number, patient_id)
            if existing is not None:
                return existing, False
            active = selectors.active_encounter_id(tenant_id=tenant_id, patient_id=patient_id, site_id=site_id)
            raise AlreadyInProgress(
                "The patient already has an encounter in progress at this site.",
                extra={"active_encounter": str(active) if active else None},
            ) from None
        _publish_encounter(EncounterCheckedIn, encounter, occurred_at=period_start)
    logger.info("encounter.imported tenant=%s encounter=%s", tenant_id, encounter.pk)
    return encounter, True


def _imported(tenant_id: int, visit_number: str, patient_id: UUID) -> Encounter | None:
    existing = Encounter.objects.filter(tenant_id=tenant_id, visit_number=visit_number).first()
    if existing is not None and existing.patient_id != patient_id:
        raise VisitNumberTaken(f"Visit number {visit_number} belongs to another patient's encounter.")
    return existing


_TRANSITIONS = {
    EncounterStatus.IN_PROGRESS: ({EncounterStatus.PLANNED, EncounterStatus.ARRIVED}, EncounterStarted),
    EncounterStatus.FINISHED: ({EncounterStatus.ARRIVED, EncounterStatus.IN_PROGRESS}, EncounterFinished),
    EncounterStatus.CANCELLED: ({EncounterStatus.PLANNED, EncounterStatus.ARRIVED}, EncounterCancelled),
}


def move_encounter(*, tenant_id: int, encounter_id: UUID, to: EncounterStatus, actor: str) -> Encounter:
    """planned → arrived → in-progress → finished (or cancelled before it starts). The use case:
    commits. Moving to the status it has is a no-op. Raises EncounterNotFound,
    InvalidTransition, AlreadyInProgress."""
    allowed, contract = _TRANSITIONS[to]
    with transaction.atomic(durable=True):
        encounter = Encounter.objects.select_for_update().filter(tenant_id=tenant_id, pk=encounter_id).first()
        if encounter is None:
            raise EncounterNotFound("No such encounter.")
        if encounter.status == to:
            return encounter
        if encounter.status not in allowed:
            raise InvalidTransition(f"An encounter cannot go from {encounter.status} to {to.value}.")
        if to == EncounterStatus.CANCELLED:
            refusals = [reason for guard in _cancel_guards if (reason := guard(tenant_id, encounter_id))]
            if refusals:
                raise InvalidTransition("The encounter cannot be cancelled: " + "; ".join(refusals))
        encounter.status = to
        if to in (EncounterStatus.FINISHED, EncounterStatus.CANCELLED):
            encounter.period_end = timezone.now()
        encounter.version = F("version") + 1
        try:
            with transaction.atomic():
                encounter.save(update_fields=["status", "period_end", "version", "updated_at"])
        except IntegrityError:
            active = selectors.active_encounter_id(
                tenant_id=tenant_id, patient_id=encounter.patient_id, site_id=encounter.site_id
            )
            raise AlreadyInProgress(
                "The patient already has an encounter in progress at this site.",
                extra={"active_encounter": str(active) if active else None},
            ) from None
        encounter.refresh_from_db()
        _publish_encounter(contract, encounter)
    return encounter


# --- Rules other apps take part in ---------------------------------------------------------------

CancelGuard = Callable[[int, UUID], "str | None"]
_cancel_guards: list[CancelGuard] = []


def register_cancel_guard(guard: CancelGuard) -> None:
    """``guard(tenant_id, encounter_id)`` says why an encounter must not be cancelled (e.g. it
    has active orders), or None."""
    if guard not in _cancel_guards:
        _cancel_guards.append(guard)


def two_visits_in_progress(tenant_id: int, source_id: UUID, target_id: UUID) -> str | None:
    """A merge guard: the two records each have a visit in progress at the same site."""
    sites = set(
        Encounter.objects.filter(
            tenant_id=tenant_id, patient_id=source_id, status=EncounterStatus.IN_PROGRESS
        ).values_list("site_id", flat=True)
    )
    clash = (
        Encounter.objects.filter(
            tenant_id=tenant_id, patient_id=target_id, status=EncounterStatus.IN_PROGRESS, site_id__in=sites
        )
        .values_list("visit_number", flat=True)
        .first()
    )
    if clash is None:
        return None
    return f"both records have a visit in progress at the same site (finish one first; target visit {clash})"


# --- Timeline -----------------------------------------------------------------------------------


def add_to_timeline(*, event: Event) -> list[int]:
    """The timeline subscriber's step, in the delivery's transaction: append the event to the
    timelines of the encounters it belongs to; a check-in also brings the booking that led to
    it (first: it happened first). Returns the new entries' IDs."""
    from encounters import timeline

    created: list[int] = []
    if event.type == ENCOUNTER_CHECKED_IN and event.encounter_id is not None:
        encounter = Encounter.objects.filter(pk=event.encounter_id).first()
        if encounter is not None:
            for booked in timeline.booking_events(encounter):
                created += append_to_timeline(event=booked, only=encounter.pk)
    return created + append_to_timeline(event=event)


def append_to_timeline(*, event: Event, only: UUID | None = None) -> list[int]:
    """Append an event to the timeline of each encounter it belongs to (see
    ``encounters.timeline``); push each new entry to live viewers after commit. Idempotent per
    (encounter, event). Returns the new entries' IDs."""
    from encounters import timeline

    created: list[int] = []
    summary, reference = timeline.describe(event)
    for encounter_id in [only] if only is not None else timeline.encounters_for(event):
        sql.lock_timeline(encounter_id)
        row = sql.append_timeline_entry(
            tenant_id=event.tenant_id,
            encounter_id=encounter_id,
            event_id=event.id,
            event_type=event.type,
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            summary=summary,
            reference=reference,
            data=json.dumps(event.payload),
        )
        if row is None:
            continue  # already on this timeline
        entry_id, seq = row
        created.append(entry_id)
        pushed = {
            "id": entry_id,
            "seq": seq,
            "event_id": str(event.id),
            "type": event.type,
            "occurred_at": event.occurred_at.isoformat(),
            "recorded_at": event.recorded_at.isoformat(),
            "summary": summary,
            "reference": reference,
        }
        transaction.on_commit(partial(_push, encounter_id, pushed))
    return created


def _push(encounter_id: UUID, entry: dict[str, Any]) -> None:
    """After commit: publish the entry to live viewers and record when (support quotes it)."""
    if live.push(encounter_id, entry):
        with transaction.atomic():
            sql.record_pushed_at(entry_id=entry["id"], pushed_at=timezone.now())


def rebuild_timeline(*, encounter_id: UUID) -> dict[str, int]:
    """Rebuild an encounter's timeline from the outbox; returns the differences found
    (``missing``, ``extra``, ``changed``) before repairing them. The use case: commits."""
    from encounters import timeline

    with transaction.atomic(durable=True):
        encounter = Encounter.objects.select_for_update().get(pk=encounter_id)
        sql.lock_timeline(encounter_id)  # appends wait while the timeline is rebuilt
        expected = {e.id: e for e in timeline.events_of(encounter)}
        current = {t.event_id: t for t in TimelineEntry.objects.filter(encounter=encounter)}
        missing = [e for event_id, e in expected.items() if event_id not in current]
        extra = [t for event_id, t in current.items() if event_id not in expected]
        changed = []
        for event_id, entry in current.items():
            event = expected.get(event_id)
            if event is None:
                continue
            summary, reference = timeline.describe(event)
            if (entry.type, entry.occurred_at, entry.summary, entry.reference) != (
                event.type,
                event.occurred_at,
                summary,
                reference,
            ):
                changed.append(entry.pk)
                TimelineEntry.objects.filter(pk=entry.pk).update(
                    type=event.type,
                    occurred_at=event.occurred_at,
                    summary=summary,
                    reference=reference,
                    data=event.payload,
                )
        TimelineEntry.objects.filter(pk__in=[t.pk for t in extra]).delete()
        next_seq = (TimelineEntry.objects.filter(encounter=encounter).aggregate(m=Max("seq"))["m"] or 0) + 1
        for offset, event in enumerate(missing):
            summary, reference = timeline.describe(event)
            TimelineEntry.objects.create(
                tenant_id=encounter.tenant_id,
                encounter=encounter,
                seq=next_seq + offset,
                event_id=event.id,
                type=event.type,
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
                summary=summary,
                reference=reference,
                data=event.payload,
            )
    return {"missing": len(missing), "extra": len(extra), "changed": len(changed)}
