"""Event subscriptions of identity."""

from __future__ import annotations

from clinic.contracts import TENANT_CREATED, Event
from clinic.facade import subscriber
from identity import services


@subscriber("identity.seed_identifier_systems", events_=[TENANT_CREATED])
def seed_identifier_systems(event: Event) -> None:
    """A new tenant gets the identifier systems of its policy (idempotent)."""
    services.ensure_identifier_systems(tenant_id=event.tenant_id)
