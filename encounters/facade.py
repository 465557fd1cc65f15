"""Public functions of encounters (plain data in and out)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from clinic.rows import Publisher
from encounters import selectors
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
    "seed_demo_schedule",
    "timeline_pushes",
]


def register_cancel_guard(guard: Callable[[int, UUID], str | None]) -> None:
    """Add a check run before an encounter is cancelled: ``guard(tenant_id, encounter_id)``
    returns why it must not be (409 with the reason), or None."""
    from encounters import services

    services.register_cancel_guard(guard)


def get_encounter(*, tenant_id: int, encounter_id: UUID) -> EncounterRef:
    """Raises EncounterNotFound (also for another tenant's encounter)."""
    return selectors.encounter_ref(selectors.get_encounter_row(tenant_id=tenant_id, encounter_id=encounter_id))


def lock_encounter(*, tenant_id: int, encounter_id: UUID) -> EncounterRef:
    """The encounter, share-locked until the caller's transaction ends (so it cannot finish
    while an order is placed in it). Raises EncounterNotFound."""
    from encounters.models import Encounter

    found = Encounter.objects.select_for_update(no_key=True).filter(tenant_id=tenant_id, pk=encounter_id).first()
    if found is None:
        raise EncounterNotFound("No such encounter.")
    return selectors.encounter_ref(found)


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
    from encounters import services

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


def seed_demo_schedule(*, tenant_id: int, site_id: int, days: int = 14) -> str:
    """Two practitioners with weekday slots for the next ``days`` days (idempotent)."""
    from encounters import demo

    return demo.seed(tenant_id=tenant_id, site_id=site_id, days=days)


def active_encounter_ids(*, tenant_id: int, patient_id: UUID) -> list[UUID]:
    """The patient's encounters in progress (at any site), oldest first: where a clinician is
    looking at the patient now."""
    from clinic.db import prepared_cursor
    from encounters.contracts import EncounterStatus

    with prepared_cursor() as cursor:  # no ORM: every lab result asks
        cursor.execute(
            "SELECT id FROM encounters_encounter WHERE tenant_id = %s AND patient_id = %s AND status = %s"
            " ORDER BY period_start, id",
            [tenant_id, patient_id, EncounterStatus.IN_PROGRESS.value],
        )
        return [row[0] for row in cursor.fetchall()]


def find_encounter_by_visit_number(*, tenant_id: int, visit_number: str) -> EncounterRef | None:
    """The encounter with this visit number (PV1-19), or None."""
    from encounters.models import Encounter

    found = Encounter.objects.filter(tenant_id=tenant_id, visit_number=visit_number).first()
    return selectors.encounter_ref(found) if found else None


def timeline_pushes(*, tenant_id: int, event_ids: list[UUID]) -> list[dict[str, str | None]]:
    """Where these events landed: one row per timeline entry (``event``, ``encounter``,
    ``added_at`` when the entry was written, ``pushed_at`` when it was published to live
    viewers)."""
    from encounters.models import TimelineEntry

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


# Rows of this app's read views (selectors.READ_VIEWS) for edges that read in bulk (the FHIR
# API): ``read_rows(view=..., query=clinic.rows.RowQuery(...))`` and ``count_rows``.
_published = Publisher(selectors.READ_VIEWS)
read_rows = _published.read_rows
count_rows = _published.count_rows
