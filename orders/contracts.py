"""Public plain data of orders. No Django imports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from clinic.contracts import EventPayload, TimelineLine, described

ORDER_PLACED = "order.placed"  # payload: OrderPlaced
ORDER_CANCELLED = "order.cancelled"  # payload: OrderCancelled


class Priority(enum.StrEnum):
    """FHIR R4 RequestPriority."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


class OrderStatus(enum.StrEnum):
    """FHIR R4 RequestStatus, the part lab orders use."""

    ACTIVE = "active"
    REVOKED = "revoked"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    code: str
    display: str
    loinc: str | None
    loinc_display: str | None


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: UUID
    tenant_id: int
    patient_id: UUID
    encounter_id: UUID
    placer_number: str
    code: str
    display: str
    coded: dict[str, Any]  # terminology CodedValue.as_dict(): catalogue code → LOINC
    priority: Priority
    status: OrderStatus
    requester: str
    specimen_note: str
    version: int
    ordered_at: datetime
    cancelled_at: datetime | None
    filler_number: str = ""


# --- Events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoincCode:
    """The LOINC code an order's catalogue code translated to when it was placed."""

    code: str
    display: str


@dataclass(frozen=True, slots=True)
class OrderEvent(EventPayload):
    """A version of an order, as the lab is sent it (a base: not an event type of its own)."""

    order_id: UUID = described("the order (ServiceRequest)")
    placer_number: str = described("our order number (ORC-2/OBR-2)")
    code: str = described("the tenant's catalogue code")
    display: str = described("the catalogue item's name")
    loinc: LoincCode | None = described("its LOINC code (code, display) when the catalogue maps it; else null")
    priority: Priority = described("FHIR RequestPriority")
    status: OrderStatus = described("the order's status after the event")
    version: int = described("the order's version (one outbound message per version)")
    visit_number: str = described("the visit it was ordered in (PV1-19)")
    specimen_note: str = described("a note for the specimen collection (OBR-13); may be empty")
    ordered_at: datetime = described("when it was ordered")

    @property
    def name(self) -> str:
        return self.display or self.code


@dataclass(frozen=True, slots=True)
class OrderPlaced(OrderEvent):
    """A lab test was ordered in an open encounter (its charge is posted in the same transaction)."""

    event_type: ClassVar[str] = ORDER_PLACED

    def timeline(self) -> TimelineLine:
        return TimelineLine(
            summary=f"Ordered {self.name} (placer {self.placer_number})", reference=f"order:{self.order_id}"
        )


@dataclass(frozen=True, slots=True)
class OrderCancelled(OrderEvent):
    """An order was revoked (its charge is reversed in the same transaction)."""

    event_type: ClassVar[str] = ORDER_CANCELLED

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary=f"Order cancelled: {self.name}", reference=f"order:{self.order_id}")


PUBLISHED_EVENTS = (OrderPlaced, OrderCancelled)
