"""Public plain data of billing. No Django imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from clinic.contracts import EventPayload, TimelineLine, described

CHARGE_POSTED = "charge.posted"  # payload: ChargePosted
CHARGE_REVERSED = "charge.reversed"  # payload: ChargeReversed


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


# --- Events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargeEvent(EventPayload):
    """What every charge event says (a base: not an event type of its own)."""

    charge_id: UUID = described("the charge item")
    code: str = described("the fee code billed")
    display: str = described("the fee's name")
    amount: Decimal = described("the unit price times the quantity")
    currency: str = described("ISO 4217 currency of the amount")
    source: str = described("what caused the charge, e.g. `order:<id>`")


@dataclass(frozen=True, slots=True)
class ChargePosted(ChargeEvent):
    """A charge was billed to the encounter's account."""

    event_type: ClassVar[str] = CHARGE_POSTED

    def timeline(self) -> TimelineLine:
        return TimelineLine(
            summary=f"Charged {self.code}: {self.amount} {self.currency}".rstrip(), reference=f"charge:{self.charge_id}"
        )


@dataclass(frozen=True, slots=True)
class ChargeReversed(ChargeEvent):
    """A charge was reversed (its order was cancelled)."""

    event_type: ClassVar[str] = CHARGE_REVERSED

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary=f"Charge reversed: {self.code}", reference=f"charge:{self.charge_id}")


PUBLISHED_EVENTS = (ChargePosted, ChargeReversed)
