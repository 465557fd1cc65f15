"""Public plain data of results: what an edge hands in to chart, and what charting answers.

No Django imports. The edge (interop) turns a message into a ``ResultMessage`` with typed values;
results resolves the patient, order and encounter, translates codes and charts it.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from clinic.contracts import EventPayload, TimelineLine, described

# Event types results publishes (their payloads: the EventPayload classes at the end).
RESULT_AVAILABLE = "result.available"
RESULT_CORRECTED = "result.corrected"
RESULT_FLAGGED = "result.flagged"  # a result for another visit, flagged on the open encounter
RESULT_RELEASED = "result.released"
RESULT_UNSOLICITED = "result.unsolicited"  # a result charted without an order, flagged on the open encounters

OBSERVATION_STATUS_SYSTEM = "http://hl7.org/fhir/observation-status"
REPORT_STATUS_SYSTEM = "http://hl7.org/fhir/diagnostic-report-status"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


class ValueType(enum.StrEnum):
    """OBX-2 value types we chart (HL7 table 0125)."""

    NM = "NM"  # numeric
    ST = "ST"  # string
    TX = "TX"  # text
    FT = "FT"  # formatted text
    CWE = "CWE"  # coded with exceptions
    CE = "CE"  # coded element (before v2.6)
    SN = "SN"  # structured numeric: comparator, number, separator, number


class ChartStatus(enum.StrEnum):
    CHARTED = "charted"  # something new or changed was charted
    DUPLICATE = "duplicate"  # everything in it was charted before, identically
    STALE = "stale"  # only versions older than what is charted (recorded, not applied)
    HELD = "held"  # the patient or the order is unknown: in the work queue


class UnsolicitedResults(enum.StrEnum):
    """What ``record_result`` does with a report whose order is not found (an unsolicited
    result: a placer or filler number we do not know, or none and no visit in PV1-19). The
    caller decides (interop, per lab partner: ADR 0010); results knows no partners."""

    HOLD = "hold"  # held in the work queue (order-unknown / no-order-or-visit) until the order appears
    CHART = "chart"  # charted to the patient without an order: to PV1-19's visit, else to no encounter


class HoldReason(enum.StrEnum):
    PATIENT_UNKNOWN = "patient-unknown"
    PATIENT_AMBIGUOUS = "patient-ambiguous"
    ORDER_UNKNOWN = "order-unknown"
    PATIENT_MISMATCH = "patient-mismatch"
    NO_ORDER_OR_VISIT = "no-order-or-visit"


@dataclass(frozen=True, slots=True)
class CodedInput:
    """A CWE/CE as received: identifier, text, the name of its coding system (CWE-3)."""

    code: str
    display: str = ""
    v2_system: str = ""


@dataclass(frozen=True, slots=True)
class PatientIdentifierInput:
    """One PID-3 repetition: CX-1 value, CX-4 assigning authority, CX-5 identifier type."""

    value: str
    authority: str
    type_code: str = ""


@dataclass(frozen=True, slots=True)
class PerformerInput:
    """The laboratory that performed a test (OBX-23 XON, OBX-24 XAD; HL7 v2.5 on): its name, its
    identifier (XON-10) and the identifier's assigning authority (XON-6: namespace, OID)."""

    name: str
    identifier: str = ""
    authority: str = ""  # XON-6.1, the namespace
    authority_oid: str = ""  # XON-6.2 when XON-6.3 is ISO
    address: str = ""  # OBX-24 as one line


@dataclass(frozen=True, slots=True)
class ObservationInput:
    """One OBX, typed. ``numeric``/``comparator``/``numeric_high`` hold NM and SN values."""

    set_id: str
    value_type: str
    code: CodedInput
    sub_id: str = ""
    text: str = ""  # ST/TX/FT, or the value as sent for the others
    numeric: Decimal | None = None
    comparator: str = ""  # SN-1: <, >, <=, >=, = or ''
    numeric_high: Decimal | None = None  # SN-4 for a range (SN-3 '-') or a ratio (':' or '/')
    sn_separator: str = ""
    coded: CodedInput | None = None
    unit: CodedInput | None = None
    reference_range: str = ""
    abnormal_flags: tuple[str, ...] = ()
    status: str = ""  # OBX-11, HL7 table 0085
    observed_at: datetime | None = None  # OBX-14
    analysed_at: datetime | None = None  # OBX-19
    comments: tuple[str, ...] = ()  # NTE after the OBX
    performer: PerformerInput | None = None  # OBX-23/24


@dataclass(frozen=True, slots=True)
class SpecimenInput:
    specimen_id: str = ""
    type: CodedInput | None = None
    collected_at: datetime | None = None
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReportInput:
    """One OBR with what follows it."""

    set_id: str
    placer_number: str
    filler_number: str
    accession: str
    code: CodedInput
    status: str = ""  # OBR-25, HL7 table 0123
    observed_at: datetime | None = None  # OBR-7
    reported_at: datetime | None = None  # OBR-22
    specimen: SpecimenInput | None = None
    comments: tuple[str, ...] = ()
    observations: tuple[ObservationInput, ...] = ()


@dataclass(frozen=True, slots=True)
class ResultMessage:
    """An ORU^R01 as results needs it."""

    sending_facility: str
    patient_identifiers: tuple[PatientIdentifierInput, ...]
    reports: tuple[ReportInput, ...]
    visit_number: str = ""  # PV1-19
    source: str = ""  # what carried it, e.g. "hl7:<message id>" (for support, never for logs)
    sent_at: datetime | None = None  # MSH-7: orders versions of equal status sent out of order

    @property
    def placer_numbers(self) -> list[str]:
        return sorted({r.placer_number for r in self.reports if r.placer_number})

    @property
    def filler_numbers(self) -> list[str]:
        return sorted({r.filler_number for r in self.reports if r.filler_number})

    @property
    def accessions(self) -> list[str]:
        return sorted({r.accession for r in self.reports if r.accession})

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _jsonable(asdict(self))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultMessage:
        def coded(d: dict[str, Any] | None) -> CodedInput | None:
            return CodedInput(**d) if d else None

        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        def number(value: str | None) -> Decimal | None:
            return Decimal(value) if value is not None else None

        reports = []
        for r in data["reports"]:
            observations = tuple(
                ObservationInput(
                    set_id=o["set_id"],
                    value_type=o["value_type"],
                    code=CodedInput(**o["code"]),
                    sub_id=o["sub_id"],
                    text=o["text"],
                    numeric=number(o["numeric"]),
                    comparator=o["comparator"],
                    numeric_high=number(o["numeric_high"]),
                    sn_separator=o["sn_separator"],
                    coded=coded(o["coded"]),
                    unit=coded(o["unit"]),
                    reference_range=o["reference_range"],
                    abnormal_flags=tuple(o["abnormal_flags"]),
                    status=o["status"],
                    observed_at=when(o["observed_at"]),
                    analysed_at=when(o["analysed_at"]),
                    comments=tuple(o["comments"]),
                    performer=PerformerInput(**o["performer"]) if o.get("performer") else None,
                )
                for o in r["observations"]
            )
            specimen = r.get("specimen")
            reports.append(
                ReportInput(
                    set_id=r["set_id"],
                    placer_number=r["placer_number"],
                    filler_number=r["filler_number"],
                    accession=r["accession"],
                    code=CodedInput(**r["code"]),
                    status=r["status"],
                    observed_at=when(r["observed_at"]),
                    reported_at=when(r["reported_at"]),
                    specimen=SpecimenInput(
                        specimen_id=specimen["specimen_id"],
                        type=coded(specimen["type"]),
                        collected_at=when(specimen["collected_at"]),
                        received_at=when(specimen["received_at"]),
                    )
                    if specimen
                    else None,
                    comments=tuple(r["comments"]),
                    observations=observations,
                )
            )
        return cls(
            sending_facility=data["sending_facility"],
            patient_identifiers=tuple(PatientIdentifierInput(**p) for p in data["patient_identifiers"]),
            reports=tuple(reports),
            visit_number=data.get("visit_number", ""),
            source=data.get("source", ""),
            sent_at=when(data.get("sent_at")),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True, slots=True)
class ChartingOutcome:
    """What charting one message did. IDs are of rows written or found; ``events`` of events
    published in the caller's transaction."""

    status: ChartStatus
    patient_id: UUID | None = None
    encounter_ids: tuple[UUID, ...] = ()
    report_ids: tuple[UUID, ...] = ()
    observation_ids: tuple[UUID, ...] = ()
    event_ids: tuple[UUID, ...] = ()
    held_id: UUID | None = None
    hold_reason: HoldReason | None = None
    detail: str = ""  # one readable sentence for the ACK and the message store
    created: int = 0  # observations new
    updated: int = 0  # observations that changed (prior version kept)
    unchanged: int = 0  # observations received again as charted
    stale: int = 0  # observations older than the charted version (recorded only)
    placer_numbers: tuple[str, ...] = field(default_factory=tuple)

    def produced(self) -> dict[str, Any]:
        return {
            "patient": str(self.patient_id) if self.patient_id else None,
            "encounters": [str(e) for e in self.encounter_ids],
            "reports": [str(r) for r in self.report_ids],
            "observations": [str(o) for o in self.observation_ids],
            "events": [str(e) for e in self.event_ids],
            "held": str(self.held_id) if self.held_id else None,
            "counts": {
                "created": self.created,
                "updated": self.updated,
                "unchanged": self.unchanged,
                "stale": self.stale,
            },
        }


# --- Events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultEvent(EventPayload):
    """A report a message changed (a base: not an event type of its own)."""

    report_id: UUID = described("the report (DiagnosticReport)")
    order_id: UUID | None = described("the order it answers; null when it came without one")
    placer_number: str = described("the order's placer number as the lab sent it (OBR-2)")
    filler_number: str = described("the lab's number (OBR-3)")
    accession: str = described("the lab's accession number")
    code: str = described("the report's code as the lab sent it (OBR-4)")
    display: str = described("its name: as sent, else its translation's, else the code")
    status: str = described("FHIR DiagnosticReport.status after the message")
    summary: str = described("one line for a clinician: name, status, observations, abnormal ones")
    observations: int = described("how many observations the report has")
    abnormal: int = described("how many of them are flagged abnormal")
    created: int = described("observations the message added")
    updated: int = described("observations the message changed (prior versions kept)")
    source: str = described("what carried it, e.g. `hl7:<message id>`")
    visit_number: str = described("the visit the result belongs to; may be empty")
    # Added after version 1 with a default, so events stored without it read as False (ADR 0011).
    unsolicited: bool = described(
        "true when the report was charted without its order (a partner that charts unsolicited"
        " results); false when absent (events stored before it was added)",
        default=False,
    )


@dataclass(frozen=True, slots=True)
class ResultAvailable(ResultEvent):
    """A result was charted on its encounter (new, or a later status of one charted before)."""

    event_type: ClassVar[str] = RESULT_AVAILABLE

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary=self.summary or "Result available", reference=f"report:{self.report_id}")


@dataclass(frozen=True, slots=True)
class ResultCorrected(ResultEvent):
    """A charted result was corrected (OBX-11/OBR-25 ``C``); the prior version is kept."""

    event_type: ClassVar[str] = RESULT_CORRECTED

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary=self.summary or "Result available", reference=f"report:{self.report_id}")


@dataclass(frozen=True, slots=True)
class ResultFlagged(ResultEvent):
    """The same payload, published on each of the patient's encounters in progress that is not the
    report's own: a clinician with the patient in front of them sees it arrive."""

    event_type: ClassVar[str] = RESULT_FLAGGED

    def timeline(self) -> TimelineLine:
        visit = self.visit_number or "another visit"
        summary = f"New result from {visit}: {self.summary or 'result available'}"
        return TimelineLine(summary=summary, reference=f"report:{self.report_id}")


@dataclass(frozen=True, slots=True)
class ResultUnsolicited(ResultEvent):
    """The same payload, in place of ``result.flagged`` for a result charted without its order: on
    each of the patient's encounters in progress that is not the report's own, so an order nobody
    here placed is seen by whoever has the patient in front of them."""

    event_type: ClassVar[str] = RESULT_UNSOLICITED

    def timeline(self) -> TimelineLine:
        # Its summary says it came without an order; where it was charted, if to a visit.
        where = f", charted to visit {self.visit_number}" if self.visit_number else ""
        return TimelineLine(
            summary=f"{self.summary or 'Unsolicited result'}{where}", reference=f"report:{self.report_id}"
        )


@dataclass(frozen=True, slots=True)
class ResultReleased(EventPayload):
    """A held result was charted, automatically (its patient or order appeared) or by an admin."""

    event_type: ClassVar[str] = RESULT_RELEASED

    held_id: UUID = described("the held result")
    source: str = described("what carried it, e.g. `hl7:<message id>`")
    status: ChartStatus = described("how charting it ended")
    detail: str = described("one readable sentence about it")
    produced: dict[str, Any] = described(
        "what charting it produced, as the message store records it: patient, encounters, reports,"
        " observations, events, held (IDs) and counts (created, updated, unchanged, stale)"
    )
    by: str = described("who released it (`user:<id>`, or the event that did)")


PUBLISHED_EVENTS = (ResultAvailable, ResultCorrected, ResultFlagged, ResultUnsolicited, ResultReleased)
