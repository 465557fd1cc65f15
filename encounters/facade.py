"""Public functions of encounters (plain data in and out)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from clinic.rows import Publisher
from encounters import selectors, services
from encounters.contracts import (
    AppointmentRef,
    DayListQuery,
    DayListRow,
    EncounterRef,
    EncounterStatus,
    PractitionerRef,
    SlotRef,
    TimelineItem,
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

__all__ = [
    "AlreadyInProgress",
    "AppointmentNotFound",
    "EncounterNotFound",
    "InvalidTransition",
    "SlotInThePast",
    "SlotNotFound",
    "SlotTaken",
    "VisitNumberTaken",
    "active_encounter_ids",
    "appointments_of_patient",
    "book_appointment",
    "cancel_appointment",
    "check_in",
    "count_rows",
    "day_list",
    "find_encounter_by_visit_number",
    "free_slots",
    "get_appointment",
    "get_encounter",
    "import_encounter",
    "link_practitioner_to_user",
    "lock_encounter",
    "move_encounter",
    "open_walk_in",
    "practitioner_for_user",
    "practitioners",
    "read_rows",
    "register_cancel_guard",
    "reschedule_appointment",
    "timeline",
    "timeline_pushes",
]


def register_cancel_guard(guard: Callable[[int, UUID], str | None]) -> None:
    """Add a check run before an encounter is cancelled: ``guard(tenant_id, encounter_id)``
    returns why it must not be (409 with the reason), or None."""
    services.register_cancel_guard(guard)


def get_encounter(*, tenant_id: int, encounter_id: UUID) -> EncounterRef:
    """Raises EncounterNotFound (also for another tenant's encounter)."""
    return selectors.get_encounter_ref(tenant_id=tenant_id, encounter_id=encounter_id)


def lock_encounter(*, tenant_id: int, encounter_id: UUID) -> EncounterRef:
    """The encounter, share-locked until the caller's transaction ends (so it cannot finish
    while an order is placed in it). Raises EncounterNotFound."""
    return selectors.encounter_ref(services.lock_encounter(tenant_id=tenant_id, encounter_id=encounter_id))


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
) -> EncounterRef:
    """Record a visit that happened elsewhere or earlier, as it was, in the caller's transaction
    (see ``encounters.services.import_encounter``). Idempotent on the visit number: a re-run
    returns the encounter the first run made. Raises InvalidInput, NotFound (site, patient),
    VisitNumberTaken, AlreadyInProgress."""
    encounter, _created = services.import_encounter(
        tenant_id=tenant_id,
        patient_id=patient_id,
        site_id=site_id,
        visit_number=visit_number,
        status=status,
        period_start=period_start,
        period_end=period_end,
        actor=actor,
    )
    return selectors.encounter_ref(encounter)


def active_encounter_ids(*, tenant_id: int, patient_id: UUID) -> list[UUID]:
    """The patient's encounters in progress (at any site), oldest first: where a clinician is
    looking at the patient now."""
    return selectors.active_encounter_ids(tenant_id=tenant_id, patient_id=patient_id)


def find_encounter_by_visit_number(*, tenant_id: int, visit_number: str) -> EncounterRef | None:
    """The encounter with this visit number (PV1-19), or None."""
    return selectors.find_encounter_by_visit_number(tenant_id=tenant_id, visit_number=visit_number)


def timeline_pushes(*, tenant_id: int, event_ids: list[UUID]) -> list[dict[str, str | None]]:
    """Where these events landed: one row per timeline entry (``event``, ``encounter``,
    ``added_at`` when the entry was written, ``pushed_at`` when it was published to live
    viewers)."""
    return selectors.timeline_pushes(tenant_id=tenant_id, event_ids=event_ids)


# Rows of this app's read views (selectors.READ_VIEWS) for edges that read in bulk (the FHIR
# API): ``read_rows(view=..., query=clinic.rows.RowQuery(...))`` and ``count_rows``.
_published = Publisher(selectors.READ_VIEWS)
read_rows = _published.read_rows
count_rows = _published.count_rows


# --- For the web app's screens (reads) and its use cases (each commits: call them from an edge) ---


def practitioners(*, tenant_id: int) -> list[PractitionerRef]:
    """The tenant's active practitioners, by name."""
    return selectors.practitioner_refs(tenant_id=tenant_id)


def practitioner_for_user(*, tenant_id: int, user_id: int) -> PractitionerRef | None:
    """The practitioner this staff user is in the tenant, or None."""
    return selectors.practitioner_for_user(tenant_id=tenant_id, user_id=user_id)


def link_practitioner_to_user(*, tenant_id: int, practitioner_id: int, user_id: int | None) -> None:
    """Make ``user_id`` the staff user who is this practitioner (None: nobody). In the caller's
    transaction (its own when there is none). Raises NotFound."""
    services.link_practitioner_to_user(tenant_id=tenant_id, practitioner_id=practitioner_id, user_id=user_id)


def _day_bounds(site_timezone: str, day: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(site_timezone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def free_slots(*, tenant_id: int, practitioner_id: int, query: DayListQuery, site_timezone: str) -> list[SlotRef]:
    """The practitioner's bookable slots on ``query.on`` (a day in ``site_timezone``)."""
    start, end = _day_bounds(site_timezone, query.on)
    return selectors.free_slot_refs(tenant_id=tenant_id, practitioner_id=practitioner_id, start=start, end=end)


def day_list(*, tenant_id: int, query: DayListQuery, site_timezone: str) -> list[DayListRow]:
    """The visits at ``query.site_id`` on ``query.on`` (a day in ``site_timezone``): booked and
    checked-in appointments and walk-ins, of ``query.practitioner_id`` or of all; in time order."""
    start, end = _day_bounds(site_timezone, query.on)
    return selectors.day_list(
        tenant_id=tenant_id, site_id=query.site_id, start=start, end=end, practitioner_id=query.practitioner_id
    )


def appointments_of_patient(*, tenant_id: int, patient_id: UUID, since: datetime) -> list[AppointmentRef]:
    """The patient's appointments (not cancelled) from ``since`` on, soonest first."""
    return selectors.appointments_of_patient(tenant_id=tenant_id, patient_id=patient_id, since=since)


def get_appointment(*, tenant_id: int, appointment_id: UUID) -> AppointmentRef:
    """Raises AppointmentNotFound (also for another tenant's)."""
    return selectors.get_appointment_ref(tenant_id=tenant_id, appointment_id=appointment_id)


def timeline(*, tenant_id: int, encounter_id: UUID) -> list[TimelineItem]:
    """The encounter's timeline, in the order things happened."""
    return selectors.timeline_items(tenant_id=tenant_id, encounter_id=encounter_id)


def book_appointment(
    *, tenant_id: int, slot_id: int, patient_id: UUID, reason: str, idempotency_key: str | None, actor: str
) -> AppointmentRef:
    """Book a slot (the use case: commits). Raises SlotNotFound, SlotInThePast, SlotTaken (with
    ``extra["next_free_slots"]``), NotFound (patient)."""
    appointment, _created = services.book(
        tenant_id=tenant_id,
        slot_id=slot_id,
        patient_id=patient_id,
        reason=reason,
        idempotency_key=idempotency_key,
        actor=actor,
    )
    return selectors.get_appointment_ref(tenant_id=tenant_id, appointment_id=appointment.pk)


def cancel_appointment(*, tenant_id: int, appointment_id: UUID, actor: str) -> AppointmentRef:
    """Cancel (the use case: commits). Raises AppointmentNotFound, InvalidTransition."""
    services.cancel_appointment(tenant_id=tenant_id, appointment_id=appointment_id, actor=actor)
    return selectors.get_appointment_ref(tenant_id=tenant_id, appointment_id=appointment_id)


def reschedule_appointment(*, tenant_id: int, appointment_id: UUID, slot_id: int, actor: str) -> AppointmentRef:
    """Move to another slot, atomically (the use case: commits). Raises what booking and
    cancelling raise."""
    new = services.reschedule(tenant_id=tenant_id, appointment_id=appointment_id, slot_id=slot_id, actor=actor)
    return selectors.get_appointment_ref(tenant_id=tenant_id, appointment_id=new.pk)


def check_in(*, tenant_id: int, appointment_id: UUID, actor: str) -> EncounterRef:
    """Check in: the encounter opens (the use case: commits); again: the same encounter.
    Raises AppointmentNotFound, InvalidTransition."""
    encounter, _created = services.check_in(tenant_id=tenant_id, appointment_id=appointment_id, actor=actor)
    return selectors.encounter_ref(encounter)


def open_walk_in(
    *, tenant_id: int, patient_id: UUID, site_id: int, practitioner_id: int | None, actor: str
) -> EncounterRef:
    """A visit without an appointment, arrived now (the use case: commits). Raises NotFound."""
    encounter = services.open_walk_in(
        tenant_id=tenant_id, patient_id=patient_id, site_id=site_id, practitioner_id=practitioner_id, actor=actor
    )
    return selectors.encounter_ref(encounter)


def move_encounter(*, tenant_id: int, encounter_id: UUID, to: EncounterStatus, actor: str) -> EncounterRef:
    """Start, finish or cancel an encounter (the use case: commits). Raises EncounterNotFound,
    InvalidTransition, AlreadyInProgress."""
    return selectors.encounter_ref(
        services.move_encounter(tenant_id=tenant_id, encounter_id=encounter_id, to=to, actor=actor)
    )
