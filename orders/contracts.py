"""Public plain data of orders. No Django imports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

ORDER_PLACED = "order.placed"
ORDER_CANCELLED = "order.cancelled"


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
