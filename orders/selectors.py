"""Order reads."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from clinic.facade import get_tenant
from clinic.rows import ReadView, coded_filters
from orders import sql
from orders.contracts import CatalogueItem, OrderRecord, OrderStatus, Priority
from orders.errors import OrderNotFound
from orders.models import ServiceRequest
from terminology.contracts import LOINC, catalogue_system
from terminology.facade import concepts_of, translate


def catalogue(*, tenant_id: int) -> list[CatalogueItem]:
    """The orderable tests of the tenant: its lab catalogue, with today's LOINC."""
    system = catalogue_system(get_tenant(tenant_id=tenant_id).slug)
    today = timezone.localdate()
    items = []
    for concept in concepts_of(tenant_id=tenant_id, system=system):
        loinc = translate(tenant_id=tenant_id, system=system, code=concept.code, target_system=LOINC, as_of=today)
        items.append(
            CatalogueItem(
                code=concept.code,
                display=concept.display,
                loinc=loinc.target.code if loinc else None,
                loinc_display=loinc.target.display if loinc else None,
            )
        )
    return items


def orders_of_encounter(*, tenant_id: int, encounter_id: UUID) -> QuerySet[ServiceRequest]:
    return ServiceRequest.objects.filter(tenant_id=tenant_id, encounter_id=encounter_id).order_by("placer_number")


def get_order(*, tenant_id: int, order_id: UUID) -> ServiceRequest:
    found = ServiceRequest.objects.filter(tenant_id=tenant_id, pk=order_id).first()
    if found is None:
        raise OrderNotFound("No such order.")
    return found


def order_record(order: ServiceRequest) -> OrderRecord:
    return OrderRecord(
        id=order.pk,
        tenant_id=order.tenant_id,
        patient_id=order.patient_id,
        encounter_id=order.encounter_id,
        placer_number=order.placer_number,
        code=order.code,
        display=order.display,
        coded=order.coded,
        priority=Priority(order.priority),
        status=OrderStatus(order.status),
        requester=order.requester,
        specimen_note=order.specimen_note,
        version=order.version,
        ordered_at=order.ordered_at,
        cancelled_at=order.cancelled_at,
        filler_number=order.filler_number,
    )


def active_orders_block_cancel(tenant_id: int, encounter_id: UUID) -> str | None:
    """An encounter with active orders cannot be cancelled: cancel the orders first (which
    reverses their charges and tells the lab)."""
    active = ServiceRequest.objects.filter(
        tenant_id=tenant_id, encounter_id=encounter_id, status=OrderStatus.ACTIVE
    ).count()
    return f"it has {active} active order(s); cancel them first" if active else None


def find_order_record(*, tenant_id: int, placer_number: str, filler_number: str) -> OrderRecord | None:
    """The order with this placer number, else the one with this filler number (one indexed
    prepared statement, no ORM: a lab result looks its order up on the hot path)."""
    if not placer_number and not filler_number:
        return None
    return sql.find_order_record(tenant_id=tenant_id, placer_number=placer_number, filler_number=filler_number)


# --- Read views (clinic.rows): the FHIR API's ServiceRequest ----------------------------------

READ_VIEWS = {
    "service_request": ReadView(
        model=ServiceRequest,
        fields={
            "id": "id",
            "patient": "patient_id",
            "encounter": "encounter_id",
            "placer_number": "placer_number",
            "filler_number": "filler_number",
            "code": "code",
            "display": "display",
            "coded": "coded",
            "priority": "priority",
            "status": "status",
            "requester": "requester",
            "specimen_note": "specimen_note",
            "version": "version",
            "ordered_at": "ordered_at",
            "cancelled_at": "cancelled_at",
            "created_at": "created_at",
            "updated_at": "updated_at",
        },
        filters=coded_filters(),
    ),
}
