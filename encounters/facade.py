"""Public functions of encounters (plain data in and out)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from clinic.rows import Publisher
from encounters import selectors, services
from encounters.contracts import EncounterRef, EncounterStatus
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
    "count_rows",
    "find_encounter_by_visit_number",
    "get_encounter",
    "import_encounter",
    "lock_encounter",
    "read_rows",
    "register_cancel_guard",
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
