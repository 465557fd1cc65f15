"""Event subscriptions of interop: order messages to the lab."""

from __future__ import annotations

from clinic.contracts import Event
from clinic.facade import subscriber
from interop import services


@subscriber("interop.order_messages", events_=["order.placed", "order.cancelled"])
def send_order_to_lab(event: Event) -> None:
    """Queue the ORM^O01 (NW or CA) for the tenant's lab; it is sent after commit."""
    services.queue_order_message(event=event)
