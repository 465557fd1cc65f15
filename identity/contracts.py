"""Public plain data of identity: what other apps and the HTTP edge receive. No Django imports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from clinic.contracts import EventPayload, TimelineLine, described

# Event types identity publishes (their payloads: the EventPayload classes at the end).
PATIENT_REGISTERED = "patient.registered"
PATIENT_MERGED = "patient.merged"
PATIENT_UNMERGED = "patient.unmerged"
PATIENT_UPDATED = "patient.updated"

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


class Gender(enum.StrEnum):
    """FHIR AdministrativeGender (http://hl7.org/fhir/R4/valueset-administrative-gender.html)."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class IdentifierUse(enum.StrEnum):
    """FHIR IdentifierUse, without ``temp`` (http://hl7.org/fhir/R4/valueset-identifier-use.html)."""

    USUAL = "usual"
    OFFICIAL = "official"
    SECONDARY = "secondary"
    OLD = "old"


class MatchGrade(enum.StrEnum):
    CERTAIN = "certain"
    PROBABLE = "probable"
    POSSIBLE = "possible"


@dataclass(frozen=True, slots=True)
class IdentifierInput:
    system: str
    value: str
    use: IdentifierUse | None = None


@dataclass(frozen=True, slots=True)
class HumanName:
    family: str
    given: tuple[str, ...] = ()
    use: str = "official"


@dataclass(frozen=True, slots=True)
class ContactPoint:
    """FHIR ContactPoint: system phone/email/..., value, use home/work/mobile..."""

    system: str
    value: str
    use: str | None = None


@dataclass(frozen=True, slots=True)
class Demographics:
    """What a registration or a match request says about a person."""

    name: HumanName | None = None
    birth_date: date | None = None
    gender: Gender | None = None
    telecom: tuple[ContactPoint, ...] = ()
    address: tuple[dict[str, Any], ...] = ()
    other_names: tuple[HumanName, ...] = ()


@dataclass(frozen=True, slots=True)
class IdentifierRecord:
    system: str
    value: str
    use: IdentifierUse
    assigning_authority: str


@dataclass(frozen=True, slots=True)
class PatientLink:
    """FHIR Patient.link: ``replaced-by`` on a merged-away record, ``replaces`` on the survivor."""

    type: str
    other: UUID


@dataclass(frozen=True, slots=True)
class PatientRecord:
    id: UUID
    tenant_id: int
    active: bool
    identifiers: tuple[IdentifierRecord, ...]
    name: HumanName
    other_names: tuple[HumanName, ...]
    birth_date: date | None
    gender: Gender
    telecom: tuple[ContactPoint, ...]
    address: tuple[dict[str, Any], ...]
    links: tuple[PatientLink, ...]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Registration:
    patient: PatientRecord
    created: bool  # False: an identifier (or the Idempotency-Key) found an existing patient


@dataclass(frozen=True, slots=True)
class MatchCandidate:
    patient: PatientRecord
    grade: MatchGrade
    score: float
    rule: str


@dataclass(frozen=True, slots=True)
class MovedRow:
    """A row re-pointed by a merge (``model`` is ``app_label.ModelName``)."""

    model: str
    id: str
    field: str


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    merge_id: UUID
    source: PatientRecord
    target: PatientRecord
    reason: str
    merged_at: datetime
    moved: tuple[MovedRow, ...]
    already_merged: bool = False  # True when this repeated an earlier merge (nothing changed)


@dataclass(frozen=True, slots=True)
class UnmergeOutcome:
    merge_id: UUID
    source: PatientRecord
    target: PatientRecord
    returned: tuple[MovedRow, ...]
    # Rows that reference the target and were created after the merge: they stay on the target;
    # someone should check which person they belong to.
    review: tuple[MovedRow, ...] = field(default_factory=tuple)
    not_returned: tuple[MovedRow, ...] = field(default_factory=tuple)


# --- Events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatientRegistered(EventPayload):
    """A new patient record was created."""

    event_type: ClassVar[str] = PATIENT_REGISTERED

    patient_id: UUID = described("the new patient")
    by: str = described("who registered them (`user:<id>`, `client:<id>`, or the system that did)")


@dataclass(frozen=True, slots=True)
class PatientUpdated(EventPayload):
    """A patient's demographics changed."""

    event_type: ClassVar[str] = PATIENT_UPDATED

    patient_id: UUID = described("the patient")
    changed: tuple[str, ...] = described("the names of the fields that changed (no values: no patient data)")
    by: str = described("who changed them")


@dataclass(frozen=True, slots=True)
class PatientMerged(EventPayload):
    """A duplicate record (``source``) was merged into ``target``; the rows it moved are listed."""

    event_type: ClassVar[str] = PATIENT_MERGED

    merge_id: UUID = described("the merge (its ledger)")
    source: UUID = described("the record merged away (now inactive, replaced by the target)")
    target: UUID = described("the surviving record")
    reason: str = described("why, as the person merging said")
    by: str = described("who merged them")
    moved: tuple[MovedRow, ...] = described("every row re-pointed from source to target (model, id, field)")

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary="Patient record merged with a duplicate", reference=f"merge:{self.merge_id}")


@dataclass(frozen=True, slots=True)
class PatientUnmerged(EventPayload):
    """A merge was undone: ``source`` is active again with the rows the merge had moved."""

    event_type: ClassVar[str] = PATIENT_UNMERGED

    merge_id: UUID = described("the merge undone")
    source: UUID = described("the record restored")
    target: UUID = described("the record it had been merged into")
    by: str = described("who undid it")
    returned: tuple[MovedRow, ...] = described("the rows moved back to the source")
    review: tuple[MovedRow, ...] = described(
        "rows created on the target since the merge: they stay there; someone should check whose they are"
    )

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary="Patient records unmerged", reference=f"merge:{self.merge_id}")


PUBLISHED_EVENTS = (PatientRegistered, PatientUpdated, PatientMerged, PatientUnmerged)
