"""Public plain data of encounters. No Django imports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

APPOINTMENT_BOOKED = "appointment.booked"
APPOINTMENT_CANCELLED = "appointment.cancelled"
APPOINTMENT_RESCHEDULED = "appointment.rescheduled"
ENCOUNTER_CHECKED_IN = "encounter.checked_in"
ENCOUNTER_STARTED = "encounter.started"
ENCOUNTER_FINISHED = "encounter.finished"
ENCOUNTER_CANCELLED = "encounter.cancelled"


class EncounterStatus(enum.StrEnum):
    """FHIR R4 Encounter.status, the part a clinic visit uses."""

    PLANNED = "planned"
    ARRIVED = "arrived"
    IN_PROGRESS = "in-progress"
    FINISHED = "finished"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({EncounterStatus.PLANNED, EncounterStatus.ARRIVED, EncounterStatus.IN_PROGRESS})


@dataclass(frozen=True, slots=True)
class EncounterRef:
    """What other apps need of an encounter (to order in it, bill it, chart into it)."""

    id: UUID
    tenant_id: int
    patient_id: UUID
    site_id: int
    practitioner_id: int | None
    visit_number: str
    status: EncounterStatus
    period_start: datetime | None
    period_end: datetime | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
