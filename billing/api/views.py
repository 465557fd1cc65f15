"""The encounter account."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from clinic.api.base import TenantAPIView
from encounters.facade import get_encounter


class EncounterChargesView(TenantAPIView):
    @extend_schema(summary="The encounter account: its charges and the total billed")
    def get(self, request: Request, encounter_id: UUID) -> Response:
        get_encounter(tenant_id=self.tenant_id, encounter_id=encounter_id)  # 404 for another tenant's
        charges = selectors.charges_of_encounter(tenant_id=self.tenant_id, encounter_id=encounter_id)
        totals: dict[str, Decimal] = {}
        for c in charges:
            if c.status == "billed":
                totals[c.currency] = totals.get(c.currency, Decimal(0)) + c.amount
        return Response(
            {
                "encounter": str(encounter_id),
                "charges": [
                    {
                        "id": str(c.id),
                        "code": c.code,
                        "display": c.display,
                        "quantity": c.quantity,
                        "unit_price": str(c.unit_price),
                        "currency": c.currency,
                        "status": c.status,
                        "source": c.source,
                        "occurred_at": c.occurred_at.isoformat(),
                        "reversed_at": c.reversed_at.isoformat() if c.reversed_at else None,
                    }
                    for c in charges
                ],
                "total": {currency: str(amount) for currency, amount in sorted(totals.items())},
            }
        )
