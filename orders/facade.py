"""Public functions of orders (plain data in and out)."""

from __future__ import annotations

from uuid import UUID

from orders import selectors
from orders.contracts import OrderRecord
from orders.models import ServiceRequest

__all__ = ["find_order", "get_order"]


def get_order(*, tenant_id: int, order_id: UUID) -> OrderRecord:
    """Raises NotFound."""
    return selectors.order_record(selectors.get_order(tenant_id=tenant_id, order_id=order_id))


def find_order(*, tenant_id: int, placer_number: str) -> OrderRecord | None:
    """The order with this placer number (ORC-2/OBR-2), or None."""
    found = ServiceRequest.objects.filter(tenant_id=tenant_id, placer_number=placer_number).first()
    return selectors.order_record(found) if found else None
