"""Public functions of encounters (plain data in and out)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from encounters import selectors
from encounters.contracts import EncounterRef

__all__ = ["get_encounter", "lock_encounter", "register_cancel_guard", "seed_demo_schedule"]


def register_cancel_guard(guard: Callable[[int, UUID], str | None]) -> None:
    """Add a check run before an encounter is cancelled: ``guard(tenant_id, encounter_id)``
    returns why it must not be (409 with the reason), or None."""
    from encounters import services

    services.register_cancel_guard(guard)


def get_encounter(*, tenant_id: int, encounter_id: UUID) -> EncounterRef:
    """Raises NotFound (also for another tenant's encounter)."""
    return selectors.encounter_ref(selectors.get_encounter_row(tenant_id=tenant_id, encounter_id=encounter_id))


def lock_encounter(*, tenant_id: int, encounter_id: UUID) -> EncounterRef:
    """The encounter, share-locked until the caller's transaction ends (so it cannot finish
    while an order is placed in it). Raises NotFound."""
    from encounters.models import Encounter
    from encounters.services import EncounterNotFound

    found = Encounter.objects.select_for_update(no_key=True).filter(tenant_id=tenant_id, pk=encounter_id).first()
    if found is None:
        raise EncounterNotFound("No such encounter.")
    return selectors.encounter_ref(found)


def seed_demo_schedule(*, tenant_id: int, site_id: int, days: int = 14) -> str:
    """Two practitioners with weekday slots for the next ``days`` days (idempotent)."""
    from encounters import demo

    return demo.seed(tenant_id=tenant_id, site_id=site_id, days=days)
