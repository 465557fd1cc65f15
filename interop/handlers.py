"""Event subscriptions of interop: order messages to the lab, and the store's record of held
results released."""

from __future__ import annotations

from uuid import UUID

from clinic.contracts import Event
from clinic.facade import subscriber
from interop.v2 import outbound_orders, store


@subscriber("interop.order_messages", events_=["order.placed", "order.cancelled"])
def send_order_to_lab(event: Event) -> None:
    """Queue the ORM^O01 (NW or CA) for the tenant's lab; it is sent after commit."""
    outbound_orders.queue_order_message(event=event)


@subscriber("interop.inbound_released", events_=["result.released"])
def mark_messages_released(event: Event) -> None:
    """A held result was charted: the messages that carried it are processed now."""
    store.mark_released(
        held_id=UUID(event.payload["held_id"]), produced=event.payload["produced"], status=event.payload["status"]
    )
