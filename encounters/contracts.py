"""Public plain data of encounters. No Django imports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
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


@dataclass(frozen=True, slots=True)
class PractitionerRef:
    id: int
    name: str
    site_ids: tuple[int, ...]
    user_id: int | None  # the staff user who is this practitioner (their day list is "mine")


@dataclass(frozen=True, slots=True)
class SlotRef:
    id: int
    practitioner_id: int
    site_id: int
    start_at: datetime
    end_at: datetime


class AppointmentStatus(enum.StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked-in"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class AppointmentRef:
    id: UUID
    patient_id: UUID
    slot: SlotRef
    practitioner_name: str
    reason: str
    status: AppointmentStatus
    encounter_id: UUID | None


@dataclass(frozen=True, slots=True)
class DayListRow:
    """One visit of a day list: a booked or checked-in appointment, or a walk-in."""

    patient_id: UUID
    appointment_id: UUID | None
    encounter_id: UUID | None
    start_at: datetime | None  # the slot's start (None for a walk-in)
    arrived_at: datetime | None  # the encounter's start
    status: str  # "booked", or the encounter's status (arrived, in-progress, finished, cancelled)
    reason: str
    practitioner_id: int | None
    visit_number: str


@dataclass(frozen=True, slots=True)
class TimelineItem:
    seq: int
    type: str
    occurred_at: datetime
    summary: str
    reference: str


@dataclass(frozen=True, slots=True)
class DayListQuery:
    site_id: int
    on: date
    practitioner_id: int | None = None  # None: every practitioner of the site
