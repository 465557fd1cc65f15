"""Event subscriptions of interop: order messages to the lab, and the store's record of held
results released."""

from __future__ import annotations

from clinic.contracts import Event
from clinic.facade import payload_of, subscriber
from interop.v2 import outbound_orders, store
from orders.contracts import ORDER_CANCELLED, ORDER_PLACED, OrderEvent
from results.contracts import RESULT_RELEASED, ResultReleased


@subscriber("interop.order_messages", events_=[ORDER_PLACED, ORDER_CANCELLED])
def send_order_to_lab(event: Event) -> None:
    """Queue the order message (NW or CA; ORM^O01 or OML^O21, as the lab's outbound profile says)
    for the tenant's lab; it is sent after commit."""
    outbound_orders.queue_order_message(event=event, order=payload_of(event, OrderEvent))


@subscriber("interop.inbound_released", events_=[RESULT_RELEASED])
def mark_messages_released(event: Event) -> None:
    """A held result was charted: the messages that carried it are processed now."""
    released = payload_of(event, ResultReleased)
    store.mark_released(held_id=released.held_id, produced=released.produced, status=released.status)
