"""Public plain data of billing. No Django imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

CHARGE_POSTED = "charge.posted"  # payload: {"charge_id", "code", "display", "amount", "currency", "source"}
CHARGE_REVERSED = "charge.reversed"


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    id: UUID
    patient_id: UUID
    encounter_id: UUID
    code: str
    display: str
    quantity: int
    unit_price: Decimal
    currency: str
    status: str  # "billed" or "reversed"
    source: str  # what caused it, e.g. "order:<uuid>"
    fee_map_version: str
    occurred_at: datetime
    reversed_at: datetime | None

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity
