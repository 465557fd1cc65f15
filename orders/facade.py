"""Public functions of orders (plain data in and out)."""

from __future__ import annotations

from uuid import UUID

from clinic.rows import Publisher
from orders import selectors, services
from orders.contracts import OrderRecord
from orders.errors import EncounterClosed, OrderNotFound, UnknownCatalogueCode

__all__ = [
    "EncounterClosed",
    "OrderNotFound",
    "UnknownCatalogueCode",
    "count_rows",
    "find_order",
    "get_order",
    "read_rows",
    "record_result_status",
]


def get_order(*, tenant_id: int, order_id: UUID) -> OrderRecord:
    """Raises OrderNotFound (also for another tenant's order)."""
    return selectors.order_record(selectors.get_order(tenant_id=tenant_id, order_id=order_id))


def find_order(*, tenant_id: int, placer_number: str = "", filler_number: str = "") -> OrderRecord | None:
    """The order with this placer number (ORC-2/OBR-2), else the one a result already linked
    to this filler number (ORC-3/OBR-3); None when neither finds one."""
    return selectors.find_order_record(tenant_id=tenant_id, placer_number=placer_number, filler_number=filler_number)


def record_result_status(*, tenant_id: int, order_id: UUID, filler_number: str, final: bool) -> OrderRecord:
    """A result arrived for the order, in the caller's transaction (see
    ``orders.services.record_result_status``). Raises OrderNotFound."""
    return selectors.order_record(
        services.record_result_status(tenant_id=tenant_id, order_id=order_id, filler_number=filler_number, final=final)
    )


# Rows of this app's read views (selectors.READ_VIEWS) for edges that read in bulk (the FHIR
# API): ``read_rows(view=..., query=clinic.rows.RowQuery(...))`` and ``count_rows``.
_published = Publisher(selectors.READ_VIEWS)
read_rows = _published.read_rows
count_rows = _published.count_rows
