"""Placing and cancelling lab orders: the order, its charge and its event in one transaction.

Events: ``order.placed`` / ``order.cancelled`` (with patient and encounter), payloads
``orders.contracts.OrderPlaced`` / ``OrderCancelled``.

Transactions: ``place_orders`` and ``cancel_order`` are the use cases the HTTP edge calls; each
owns its transaction, ``atomic(durable=True)`` (it commits when it returns). Billing's charge
and the encounter's lock join it through their facades. ``record_result_status`` runs in the
caller's transaction (a result being charted).
"""

from __future__ import annotations

import uuid
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from billing.facade import post_charge, reverse_charges
from clinic.contracts import Conflict, FieldProblem
from clinic.facade import claim_idempotency_key, complete_idempotency_key, get_tenant, publish
from encounters.facade import get_encounter, lock_encounter
from identity.facade import lock_patient_for_write
from orders import sql
from orders.contracts import LoincCode, OrderCancelled, OrderEvent, OrderPlaced, OrderStatus, Priority
from orders.errors import EncounterClosed, OrderNotFound, UnknownCatalogueCode
from orders.models import ServiceRequest
from terminology.contracts import LOINC, catalogue_system
from terminology.facade import code_value, concepts_of

MAX_CODES_PER_REQUEST = 50


def _placer_number() -> str:
    return f"ORD{sql.next_placer_number():08d}"


def place_orders(
    *,
    tenant_id: int,
    encounter_id: UUID,
    codes: list[str],
    priority: Priority = Priority.ROUTINE,
    specimen_note: str = "",
    idempotency_key: str | None = None,
    actor: str,
) -> tuple[list[ServiceRequest], bool]:
    """Order catalogue tests in an open encounter; returns (orders, created).

    The use case, one transaction: every order, its charge (billing) and its ``order.placed``
    event commit together, or none of them. A retry with the same ``idempotency_key`` returns
    the first orders.
    Raises NotFound (encounter), EncounterClosed, UnknownCatalogueCode, InvalidInput (billing:
    no billing code or price, which refuses the order rather than leave it unbilled).
    """
    with transaction.atomic(durable=True):
        if idempotency_key is not None:
            replay = claim_idempotency_key(
                tenant_id=tenant_id,
                scope="orders.place",
                key=idempotency_key,
                request={
                    "encounter": str(encounter_id),
                    "codes": codes,
                    "priority": priority.value,
                    "note": specimen_note,
                },
            )
            if replay is not None:
                return list(
                    ServiceRequest.objects.filter(pk__in=replay.result["orders"]).order_by("placer_number")
                ), False
        # Lock order everywhere: the patient first, then the clinical rows (as a merge does), so
        # a merge and an order can never wait on each other in a cycle.
        patient_id = lock_patient_for_write(
            tenant_id=tenant_id, patient_id=get_encounter(tenant_id=tenant_id, encounter_id=encounter_id).patient_id
        )
        encounter = lock_encounter(tenant_id=tenant_id, encounter_id=encounter_id)
        if encounter.patient_id != patient_id:
            raise Conflict("The encounter's patient record was just merged; try again.")
        if not encounter.is_open:
            raise EncounterClosed(f"The encounter is {encounter.status.value}: orders need an open encounter.")
        slug = get_tenant(tenant_id=tenant_id).slug
        catalogue = {c.code: c for c in concepts_of(tenant_id=tenant_id, system=catalogue_system(slug))}
        unknown = [code for code in codes if code not in catalogue]
        if unknown:
            raise UnknownCatalogueCode(
                "Unknown catalogue codes: " + ", ".join(unknown),
                [FieldProblem("codes", f"{code!r} is not in the lab catalogue") for code in unknown],
            )
        now = timezone.now()
        placed = []
        for code in codes:
            order_id = uuid.uuid4()
            coded = code_value(
                tenant_id=tenant_id,
                system=catalogue_system(slug),
                code=code,
                display=catalogue[code].display,
                target_system=LOINC,
                as_of=now.date(),
                reference=f"order:{order_id}",
            )
            order = ServiceRequest.objects.create(
                id=order_id,
                tenant_id=tenant_id,
                patient_id=patient_id,
                encounter_id=encounter.id,
                placer_number=_placer_number(),
                code=code,
                display=catalogue[code].display,
                coded=coded.as_dict(),
                priority=priority.value,
                requester=actor,
                specimen_note=specimen_note,
                ordered_at=now,
            )
            _publish(OrderPlaced, order, visit_number=encounter.visit_number)
            post_charge(
                tenant_id=tenant_id,
                patient_id=patient_id,
                encounter_id=encounter.id,
                catalogue_system=catalogue_system(slug),
                catalogue_code=code,
                on=now.date(),
                source=f"order:{order.pk}",
            )
            placed.append(order)
        if idempotency_key is not None:
            complete_idempotency_key(
                tenant_id=tenant_id,
                scope="orders.place",
                key=idempotency_key,
                result={"orders": [str(o.pk) for o in placed]},
            )
    return placed, True


def cancel_order(*, tenant_id: int, order_id: UUID, actor: str) -> ServiceRequest:
    """Revoke an order: its charge is reversed and ``order.cancelled`` published, in one
    transaction (the use case: commits). Cancelling twice is a no-op. Raises OrderNotFound,
    Conflict (a completed order)."""
    with transaction.atomic(durable=True):
        found = (
            ServiceRequest.objects.filter(tenant_id=tenant_id, pk=order_id).values_list("patient_id", flat=True).first()
        )
        if found is None:
            raise OrderNotFound("No such order.")
        lock_patient_for_write(tenant_id=tenant_id, patient_id=found)  # the patient first, as everywhere
        order = ServiceRequest.objects.select_for_update().get(tenant_id=tenant_id, pk=order_id)
        if order.status == OrderStatus.REVOKED:
            return order
        if order.status == OrderStatus.COMPLETED:
            raise Conflict("A completed order cannot be cancelled.")
        order.status = OrderStatus.REVOKED.value
        order.version += 1
        order.cancelled_at = timezone.now()
        order.save(update_fields=["status", "version", "cancelled_at", "updated_at"])
        visit_number = lock_encounter(tenant_id=tenant_id, encounter_id=order.encounter_id).visit_number
        _publish(OrderCancelled, order, visit_number=visit_number)
        reverse_charges(tenant_id=tenant_id, source=f"order:{order.pk}")
    return order


def record_result_status(*, tenant_id: int, order_id: UUID, filler_number: str, final: bool) -> ServiceRequest:
    """Record what a result tells about its order, in the caller's transaction: the lab's filler
    number (the first one sticks), and ``completed`` once a final result arrives for an active
    order. A revoked order stays revoked (the result is charted all the same). Sends nothing to
    the lab: the lab told us. Raises OrderNotFound."""
    with transaction.atomic(savepoint=False):
        order = ServiceRequest.objects.select_for_update(no_key=True).filter(tenant_id=tenant_id, pk=order_id).first()
        if order is None:
            raise OrderNotFound("No such order.")
        fields = []
        if filler_number and not order.filler_number:
            order.filler_number = filler_number[:80]
            fields.append("filler_number")
        if final and order.status == OrderStatus.ACTIVE:
            order.status = OrderStatus.COMPLETED.value
            fields.append("status")
        if fields:
            order.version += 1  # readers (FHIR ETags) must see the order changed
            order.save(update_fields=[*fields, "version", "updated_at"])
    return order


def _publish(contract: type[OrderEvent], order: ServiceRequest, *, visit_number: str) -> None:
    translated = order.coded.get("translated") or None
    publish(
        payload=contract(
            order_id=order.pk,
            placer_number=order.placer_number,
            code=order.code,
            display=order.display,
            loinc=LoincCode(code=translated["code"], display=translated["display"]) if translated else None,
            priority=Priority(order.priority),
            status=OrderStatus(order.status),
            version=order.version,
            visit_number=visit_number,
            specimen_note=order.specimen_note,
            ordered_at=order.ordered_at,
        ),
        tenant_id=order.tenant_id,
        patient_id=order.patient_id,
        encounter_id=order.encounter_id,
    )
