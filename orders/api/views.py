"""Lab order endpoints."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.base import TenantAPIView
from clinic.api.fields import StrictCharField, StrictSerializer
from encounters.facade import get_encounter
from orders import selectors, services
from orders.contracts import Priority
from orders.models import ServiceRequest


class PlaceIn(StrictSerializer):
    codes = serializers.ListField(
        child=StrictCharField(max_length=100), min_length=1, max_length=services.MAX_CODES_PER_REQUEST
    )
    priority = serializers.ChoiceField(
        choices=[p.value for p in Priority], required=False, default=Priority.ROUTINE.value
    )
    specimen_note = StrictCharField(max_length=500, required=False, allow_blank=True, default="")

    def validate_codes(self, codes: list[str]) -> list[str]:
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise serializers.ValidationError(f"Each test once: {', '.join(repeated)} repeated.")
        return codes


def order_json(order: ServiceRequest) -> dict[str, Any]:
    translated = order.coded.get("translated") or None
    return {
        "id": str(order.pk),
        "placer_number": order.placer_number,
        "encounter": str(order.encounter_id),
        "patient": str(order.patient_id),
        "code": order.code,
        "display": order.display,
        "loinc": translated,
        "coded": order.coded,
        "priority": order.priority,
        "status": order.status,
        "requester": order.requester,
        "specimen_note": order.specimen_note,
        "version": order.version,
        "ordered_at": order.ordered_at.isoformat(),
        "cancelled_at": order.cancelled_at.isoformat() if order.cancelled_at else None,
    }


class CatalogueView(TenantAPIView):
    @extend_schema(summary="The tenant's orderable tests (code, display, LOINC)")
    def get(self, request: Request) -> Response:
        return Response(
            {
                "results": [
                    {"code": i.code, "display": i.display, "loinc": i.loinc, "loinc_display": i.loinc_display}
                    for i in selectors.catalogue(tenant_id=self.tenant_id)
                ]
            }
        )


class EncounterOrdersView(TenantAPIView):
    @extend_schema(summary="The encounter's orders")
    def get(self, request: Request, encounter_id: UUID) -> Response:
        get_encounter(tenant_id=self.tenant_id, encounter_id=encounter_id)
        return Response(
            {
                "results": [
                    order_json(o)
                    for o in selectors.orders_of_encounter(tenant_id=self.tenant_id, encounter_id=encounter_id)
                ]
            }
        )

    @extend_schema(
        request=PlaceIn,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        summary="Order tests: each with its charge and its event, in one transaction",
    )
    def post(self, request: Request, encounter_id: UUID) -> Response:
        data = self.parse_body(PlaceIn)
        orders, created = services.place_orders(
            tenant_id=self.tenant_id,
            encounter_id=encounter_id,
            codes=data["codes"],
            priority=Priority(data["priority"]),
            specimen_note=data["specimen_note"],
            idempotency_key=request.headers.get("Idempotency-Key"),
            actor=self.principal.actor,
        )
        return Response({"results": [order_json(o) for o in orders]}, status=201 if created else 200)


class OrderDetailView(TenantAPIView):
    @extend_schema(summary="One order")
    def get(self, request: Request, order_id: UUID) -> Response:
        return Response(order_json(selectors.get_order(tenant_id=self.tenant_id, order_id=order_id)))


class OrderCancelView(TenantAPIView):
    @extend_schema(request=None, summary="Cancel an order: its charge is reversed, the lab is told")
    def post(self, request: Request, order_id: UUID) -> Response:
        order = services.cancel_order(tenant_id=self.tenant_id, order_id=order_id, actor=self.principal.actor)
        return Response(order_json(order))
