"""Public plain data of encounters. No Django imports."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

from clinic.contracts import EventPayload, TimelineLine, described

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


# --- Events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppointmentEvent(EventPayload):
    """What every appointment event says (a base: not an event type of its own)."""

    appointment_id: UUID = described("the appointment")
    slot_id: int = described("its slot")
    start_at: datetime = described("when the slot starts")
    practitioner_id: int = described("whom the slot is with")


@dataclass(frozen=True, slots=True)
class AppointmentBooked(AppointmentEvent):
    """A slot was booked for the patient (on the encounter's timeline once the patient checks in)."""

    event_type: ClassVar[str] = APPOINTMENT_BOOKED

    def timeline(self) -> TimelineLine:
        return TimelineLine(
            summary=f"Appointment booked for {self.start_at.isoformat()}",
            reference=f"appointment:{self.appointment_id}",
        )


@dataclass(frozen=True, slots=True)
class AppointmentCancelled(AppointmentEvent):
    """A booked appointment was cancelled; its slot is free again."""

    event_type: ClassVar[str] = APPOINTMENT_CANCELLED


@dataclass(frozen=True, slots=True)
class AppointmentRescheduled(AppointmentEvent):
    """The appointment (the old one, cancelled) moved to another slot: ``new_appointment_id``."""

    event_type: ClassVar[str] = APPOINTMENT_RESCHEDULED

    new_appointment_id: UUID = described("the appointment that replaces it")


@dataclass(frozen=True, slots=True)
class EncounterEvent(EventPayload):
    """What every encounter event says (a base: not an event type of its own)."""

    encounter_id: UUID = described("the encounter (visit)")
    visit_number: str = described("its visit number (PV1-19)")
    appointment_id: UUID | None = described("the appointment it came from; null for a walk-in or an import")
    status: EncounterStatus = described("its status after the event (FHIR Encounter.status)")


@dataclass(frozen=True, slots=True)
class EncounterCheckedIn(EncounterEvent):
    """The patient arrived: the encounter was opened (checked in, walked in, or imported, dated at
    its start)."""

    event_type: ClassVar[str] = ENCOUNTER_CHECKED_IN

    def timeline(self) -> TimelineLine:
        return TimelineLine(
            summary=f"Checked in (visit {self.visit_number})", reference=f"encounter:{self.encounter_id}"
        )


@dataclass(frozen=True, slots=True)
class EncounterStarted(EncounterEvent):
    """The consultation started (in progress)."""

    event_type: ClassVar[str] = ENCOUNTER_STARTED

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary="Consultation started", reference=f"encounter:{self.encounter_id}")


@dataclass(frozen=True, slots=True)
class EncounterFinished(EncounterEvent):
    """The encounter finished."""

    event_type: ClassVar[str] = ENCOUNTER_FINISHED

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary="Encounter finished", reference=f"encounter:{self.encounter_id}")


@dataclass(frozen=True, slots=True)
class EncounterCancelled(EncounterEvent):
    """The encounter was cancelled before it started."""

    event_type: ClassVar[str] = ENCOUNTER_CANCELLED

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary="Encounter cancelled", reference=f"encounter:{self.encounter_id}")


PUBLISHED_EVENTS = (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    EncounterCheckedIn,
    EncounterStarted,
    EncounterFinished,
    EncounterCancelled,
)
