"""Charting results: one DiagnosticReport per OBR, one Observation per OBX, exactly once.

Everything a message changes is written in the caller's transaction: reports, observations,
their prior versions, the order's status (orders facade), the events. The business keys are
unique constraints, so a redelivery (or a concurrent duplicate) finds the rows the first
delivery wrote and charts nothing new.

Events published (type → payload; with patient and encounter):

- ``result.available`` / ``result.corrected`` → ``{"report_id", "order_id", "placer_number",
  "filler_number", "accession", "code", "display", "status", "summary", "observations",
  "abnormal", "created", "updated", "source", "visit_number"}``; ``result.corrected`` when the
  message corrected a charted result (OBX-11/OBR-25 ``C``).
- ``result.flagged`` → the same payload, on each of the patient's encounters in progress that is
  not the report's own (a clinician with the patient in front of them sees it arrive).
- ``result.released`` → ``{"held_id", "source", "status", "produced"}`` when a held result is
  charted (automatically or by an admin), no encounter.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.contracts import FieldProblem
from clinic.db import insert_new, new_row
from clinic.facade import publish
from encounters.facade import active_encounter_ids, find_encounter_by_visit_number, get_encounter
from identity.facade import lock_patient_for_write, patients_by_v2_identifiers, resolve_patient_id
from orders.contracts import OrderRecord, OrderStatus
from orders.facade import find_order, get_order, record_result_status
from results import units
from results.contracts import (
    INTERPRETATION_SYSTEM,
    OBSERVATION_STATUS_SYSTEM,
    REPORT_STATUS_SYSTEM,
    RESULT_AVAILABLE,
    RESULT_CORRECTED,
    RESULT_FLAGGED,
    RESULT_RELEASED,
    ChartingOutcome,
    ChartStatus,
    CodedInput,
    HoldReason,
    ObservationInput,
    ReportInput,
    ResultMessage,
)
from results.errors import HeldResultClosed, HeldResultNotFound, ResultUnresolved
from results.models import DiagnosticReport, HeldResult, Observation, ResultRevision
from terminology.contracts import LOINC, CodedValue, Coding, v2_table
from terminology.facade import code_value, system_for_v2, translate

logger = logging.getLogger("results")


# FHIR status for HL7 v2 statuses the v2-to-FHIR maps leave out (0085: I pending, R not yet
# verified, S partial, U made final without retransmission, N not asked; 0123 has them all).
OBSERVATION_STATUS_FALLBACK = {
    "I": "registered",
    "O": "registered",
    "R": "preliminary",
    "S": "preliminary",
    "U": "final",
    "N": "cancelled",
    "B": "amended",  # appended (v2.9): R4 Observation.status has no "appended"
}
# How far along a result is. A version ranked below the charted one arrived late: recorded, not
# applied (a preliminary after the final must not undo it; a final resent after a correction
# must not undo the correction).
STATUS_RANK = {
    "registered": 0,
    "unknown": 1,
    "preliminary": 1,
    "partial": 1,
    "final": 2,
    "cancelled": 2,
    # Marked in error: a re-issued final (sent later) or a correction applies over it.
    "entered-in-error": 2,
    "amended": 3,
    "corrected": 3,
    "appended": 3,
}
FINAL_REPORT_STATUSES = {"final", "amended", "corrected", "appended"}


# --- Resolution: patient, orders, encounters ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hold:
    reason: HoldReason
    detail: str


@dataclass(slots=True)
class _Target:
    order: OrderRecord | None
    encounter_id: UUID | None
    visit_number: str


@dataclass(slots=True)
class _Resolved:
    patient_id: UUID
    targets: list[_Target] = field(default_factory=list)


def _resolve(
    tenant_id: int, message: ResultMessage, *, patient_id: UUID | None = None, order_id: UUID | None = None
) -> _Resolved | _Hold:
    """Who and where the result is for; a _Hold with the reason when we cannot tell."""
    if patient_id is None:
        found = patients_by_v2_identifiers(
            tenant_id=tenant_id, identifiers=[(p.authority, p.value) for p in message.patient_identifiers]
        )
        holders = sorted(set(found.values()), key=str)
        if not holders:
            authorities = sorted({p.authority or "(none)" for p in message.patient_identifiers})
            return _Hold(
                HoldReason.PATIENT_UNKNOWN,
                "No patient of this clinic holds the PID-3 identifiers (assigning authorities: "
                + ", ".join(authorities)
                + ").",
            )
        if len(holders) > 1:
            return _Hold(
                HoldReason.PATIENT_AMBIGUOUS,
                f"The PID-3 identifiers belong to {len(holders)} different patients: "
                + ", ".join(str(h) for h in holders)
                + ".",
            )
        patient_id = holders[0]
    resolved = _Resolved(patient_id=patient_id)
    visit = None
    if message.visit_number:
        visit = find_encounter_by_visit_number(tenant_id=tenant_id, visit_number=message.visit_number)
    forced = get_order(tenant_id=tenant_id, order_id=order_id) if order_id is not None else None
    for report in message.reports:
        order = None
        if report.placer_number or report.filler_number:
            order = find_order(
                tenant_id=tenant_id, placer_number=report.placer_number, filler_number=report.filler_number
            )
        # An admin's choice of order applies to the reports whose own numbers find none.
        order = order or forced
        if order is None and (report.placer_number or report.filler_number):
            return _Hold(
                HoldReason.ORDER_UNKNOWN,
                f"No order with placer number {report.placer_number!r} or filler number "
                f"{report.filler_number!r} (OBR {report.set_id}).",
            )
        if order is not None:
            if order.patient_id != patient_id and resolve_patient_id(
                tenant_id=tenant_id, patient_id=order.patient_id
            ) != resolve_patient_id(tenant_id=tenant_id, patient_id=patient_id):
                return _Hold(
                    HoldReason.PATIENT_MISMATCH,
                    f"Order {order.placer_number} belongs to another patient than PID-3 names (OBR {report.set_id}).",
                )
            resolved.targets.append(_Target(order=order, encounter_id=order.encounter_id, visit_number=""))
            continue
        if visit is None:
            return _Hold(
                HoldReason.NO_ORDER_OR_VISIT,
                f"OBR {report.set_id} names no order (OBR-2/OBR-3) and PV1-19 names no visit of this clinic.",
            )
        if visit.patient_id != patient_id and resolve_patient_id(
            tenant_id=tenant_id, patient_id=visit.patient_id
        ) != resolve_patient_id(tenant_id=tenant_id, patient_id=patient_id):
            return _Hold(HoldReason.PATIENT_MISMATCH, f"Visit {visit.visit_number} belongs to another patient.")
        resolved.targets.append(_Target(order=None, encounter_id=visit.id, visit_number=visit.visit_number))
    return resolved


# --- Mapping codes and values -------------------------------------------------------------------


class _Codes:
    """Code systems and translations for one message (v2 system names looked up once)."""

    def __init__(self, tenant_id: int, sending_facility: str, source: str) -> None:
        self.tenant_id = tenant_id
        self.facility = sending_facility
        self.source = source
        self._systems: dict[str, str] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}  # twenty results of a panel share flags and statuses

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def system(self, v2_system: str) -> str:
        if v2_system not in self._systems:
            uri = system_for_v2(tenant_id=self.tenant_id, v2_identifier=v2_system) if v2_system else None
            # A lab's own codes (L, 99zzz or a name we do not know) live in a system of that lab:
            # a tenant concept map translates them to LOINC.
            self._systems[v2_system] = uri or f"urn:clinic:lab:{self.facility}:{v2_system or 'L'}"
        return self._systems[v2_system]

    def test_code(self, coded: CodedInput, as_of: date) -> CodedValue:
        system = self.system(coded.v2_system)
        original = Coding(system=system, code=coded.code, display=coded.display)
        if system == LOINC:
            return CodedValue(original=original, translated=original, as_of=as_of)
        return code_value(
            tenant_id=self.tenant_id,
            system=system,
            code=coded.code,
            display=coded.display,
            target_system=LOINC,
            as_of=as_of,
            reference=self.source,
        )

    def coding(self, coded: CodedInput) -> dict[str, str]:
        return {"system": self.system(coded.v2_system), "code": coded.code, "display": coded.display}

    def interpretation(self, flags: tuple[str, ...], as_of: date) -> list[dict[str, str]]:
        out = []
        for flag in flags:
            found = translate(
                tenant_id=self.tenant_id,
                system=v2_table("0078"),
                code=flag,
                target_system=INTERPRETATION_SYSTEM,
                as_of=as_of,
            )
            if found is not None:
                out.append({"system": found.target.system, "code": found.target.code, "display": found.target.display})
            else:
                out.append({"system": v2_table("0078"), "code": flag, "display": ""})
        return out

    def observation_status(self, v2: str, as_of: date) -> str:
        if not v2:
            return "unknown"
        found = translate(
            tenant_id=self.tenant_id,
            system=v2_table("0085"),
            code=v2,
            target_system=OBSERVATION_STATUS_SYSTEM,
            as_of=as_of,
        )
        return found.target.code if found else OBSERVATION_STATUS_FALLBACK.get(v2, "unknown")

    def report_status(self, v2: str, as_of: date) -> str | None:
        if not v2:
            return None
        found = translate(
            tenant_id=self.tenant_id, system=v2_table("0123"), code=v2, target_system=REPORT_STATUS_SYSTEM, as_of=as_of
        )
        return found.target.code if found else None


def _sha(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _received(obs: ObservationInput) -> dict[str, Any]:
    """What the lab said about one result, as received: the duplicate test compares this (set
    IDs and the order of OBX segments are left out: senders renumber them)."""
    return {
        "code": [obs.code.v2_system, obs.code.code, obs.code.display],
        "sub_id": obs.sub_id,
        "type": obs.value_type,
        "text": obs.text,
        "numeric": str(obs.numeric) if obs.numeric is not None else None,
        "comparator": obs.comparator,
        "high": str(obs.numeric_high) if obs.numeric_high is not None else None,
        "separator": obs.sn_separator,
        "coded": [obs.coded.v2_system, obs.coded.code, obs.coded.display] if obs.coded else None,
        "unit": [obs.unit.v2_system, obs.unit.code, obs.unit.display] if obs.unit else None,
        "range": obs.reference_range,
        "flags": list(obs.abnormal_flags),
        "status": obs.status,
        "observed_at": _iso(obs.observed_at),
        "analysed_at": _iso(obs.analysed_at),
        "comments": list(obs.comments),
    }


def _report_received(report: ReportInput) -> dict[str, Any]:
    spec = report.specimen
    return {
        "code": [report.code.v2_system, report.code.code, report.code.display],
        "status": report.status,
        "observed_at": _iso(report.observed_at),
        "reported_at": _iso(report.reported_at),
        "specimen": [
            spec.specimen_id,
            [spec.type.code, spec.type.display] if spec.type else None,
            _iso(spec.collected_at),
            _iso(spec.received_at),
        ]
        if spec
        else None,
        "comments": list(report.comments),
    }


def _unit(unit: CodedInput | None) -> tuple[str, str]:
    """(unit as text, UCUM code or '') of OBX-6."""
    if unit is None or not (unit.code or unit.display):
        return "", ""
    text = unit.code or unit.display
    if unit.v2_system in ("UCUM", "ANS+") or not unit.v2_system:
        return text, unit.code if unit.code and units.is_ucum(unit.code) else ""
    return text, ""


def _code_key(coded: CodedInput) -> str:
    return f"{coded.v2_system}|{coded.code}"[:140]


# --- Writing ------------------------------------------------------------------------------------

_OBSERVATION_FIELDS = [
    "report_id",
    "encounter_id",
    "set_id",
    "coded",
    "loinc",
    "value_type",
    "value_quantity",
    "value_comparator",
    "value_high",
    "value_separator",
    "value_string",
    "value_coded",
    "unit",
    "unit_ucum",
    "reference_range",
    "abnormal_flags",
    "interpretation",
    "status",
    "v2_status",
    "effective_at",
    "issued_at",
    "comments",
    "content_sha256",
    "source",
    "sent_at",
]
_REPORT_FIELDS = [
    "encounter_id",
    "order_id",
    "coded",
    "status",
    "v2_status",
    "effective_at",
    "issued_at",
    "specimen",
    "comments",
    "content_sha256",
    "source",
    "sent_at",
]


def _snapshot(row: models.Model, names: list[str]) -> dict[str, Any]:
    out = {}
    for name in [*names, "version"]:
        value = getattr(row, name)
        if isinstance(value, Decimal):
            value = format(value.normalize(), "f")  # 13.40000000 from the column reads 13.4
        out[name] = str(value) if isinstance(value, UUID | datetime) else value
    return out


@dataclass(slots=True)
class _ReportWork:
    input: ReportInput
    target: _Target
    row: DiagnosticReport
    new: bool = True
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    corrected: bool = False
    report_changed: bool = False
    incoming: DiagnosticReport | None = None  # the received version of a report charted before
    changed: bool = False
    observation_ids: list[UUID] = field(default_factory=list)
    observations: list[Any] = field(default_factory=list)  # Observation rows (or rows just inserted)


def record_result(
    *,
    tenant_id: int,
    message: ResultMessage,
    actor: str,
    patient_id: UUID | None = None,
    order_id: UUID | None = None,
    hold: bool = True,
) -> ChartingOutcome:
    """Chart a result message in the caller's transaction, exactly once.

    Each OBR becomes (or updates) a DiagnosticReport and each OBX an Observation, found by
    business key: a redelivery changes nothing (``duplicate``); a later status updates the row
    and keeps the prior version; a version older than the charted one is recorded and not
    applied (``stale``); a message whose patient or order is unknown is held in the work queue
    (``held``), never charted to a guess. ``patient_id``/``order_id`` override the lookup (an
    admin filing a held result). With ``hold=False`` an unresolvable message raises instead.

    Raises ResultUnresolved (unresolvable with ``hold=False``), NotFound (override IDs).
    """
    with transaction.atomic(savepoint=False):
        resolution = _resolve(tenant_id, message, patient_id=patient_id, order_id=order_id)
        if isinstance(resolution, _Hold):
            if not hold:
                raise ResultUnresolved(resolution.detail, [FieldProblem(resolution.reason.value, resolution.detail)])
            return _hold(tenant_id, message, resolution)
        return _chart(tenant_id, message, resolution, actor=actor)


def _chart(tenant_id: int, message: ResultMessage, resolved: _Resolved, *, actor: str) -> ChartingOutcome:
    # The patient first, then clinical rows (as everywhere): a merge cannot strand these rows on
    # a merged-away record, and two deliveries for one patient take turns here.
    patient_id = lock_patient_for_write(tenant_id=tenant_id, patient_id=resolved.patient_id)
    codes = _Codes(tenant_id, message.sending_facility, message.source)
    work: list[_ReportWork] = []
    for report, target in zip(message.reports, resolved.targets, strict=True):
        as_of = (report.observed_at or report.reported_at or timezone.now()).date()
        coded = codes.test_code(report.code, as_of)
        derived = _derive_report_status(codes, report, as_of)
        received = _report_received(report)
        row = DiagnosticReport(
            id=uuid4(),
            tenant_id=tenant_id,
            patient_id=patient_id,
            encounter_id=target.encounter_id,
            order_id=target.order.id if target.order else None,
            sending_facility=message.sending_facility,
            placer_number=report.placer_number,
            filler_number=report.filler_number,
            accession=report.accession,
            code_key=_code_key(report.code),
            coded=coded.as_dict(),
            status=derived,
            v2_status=report.status[:2],
            effective_at=report.observed_at,
            issued_at=report.reported_at,
            specimen=_specimen_json(codes, report),
            comments=list(report.comments),
            content_sha256=_sha(received),
            source=message.source,
            sent_at=message.sent_at,
        )
        work.append(_ReportWork(input=report, target=target, row=row))

    inserted = insert_new(
        DiagnosticReport,
        sorted((w.row for w in work), key=lambda r: (r.placer_number, r.filler_number, r.accession, r.code_key)),
        constraint="report_business_key",
    )
    existing_keys = [w for w in work if w.row.id not in inserted]
    if existing_keys:
        found = {
            (r.placer_number, r.filler_number, r.accession, r.code_key): r
            for r in DiagnosticReport.objects.select_for_update().filter(
                Q(tenant_id=tenant_id, sending_facility=message.sending_facility),
                _any(
                    Q(placer_number=w.row.placer_number, filler_number=w.row.filler_number, accession=w.row.accession)
                    & Q(code_key=w.row.code_key)
                    for w in existing_keys
                ),
            )
        }
        for w in existing_keys:
            w.new = False
            incoming = w.row
            w.row = found[(incoming.placer_number, incoming.filler_number, incoming.accession, incoming.code_key)]
            w.report_changed = w.row.content_sha256 != incoming.content_sha256
            w.incoming = incoming

    all_obs: list[tuple[_ReportWork, ObservationInput, Any]] = []
    for w in work:
        report = w.input
        for obs in report.observations:
            as_of = (obs.observed_at or report.observed_at or timezone.now()).date()
            all_obs.append((w, obs, _observation_row(codes, tenant_id, patient_id, message, w, obs, as_of)))
    new_obs = insert_new(
        Observation,
        sorted((r for _w, _o, r in all_obs), key=lambda r: (str(r.report_id), r.code_key, r.sub_id)),
        constraint="observation_business_key",
    )
    for w, _obs, obs_row in all_obs:
        if obs_row.id in new_obs:
            w.created += 1
            w.observation_ids.append(obs_row.id)
            w.observations.append(obs_row)
    conflicts = [(w, o, r) for w, o, r in all_obs if r.id not in new_obs]
    if conflicts:
        _apply_to_existing(tenant_id, message, conflicts)

    return _finish(tenant_id, message, patient_id, work, actor=actor)


def _older(status: str, sent_at: datetime | None, charted_status: str, charted_sent_at: datetime | None) -> bool:
    """Is a received version older than the charted one? A lower status is (a preliminary after
    the final); at the same status, a message sent earlier (MSH-7) is (a final resent late)."""
    rank, charted_rank = STATUS_RANK.get(status, 1), STATUS_RANK.get(charted_status, 1)
    if rank != charted_rank:
        return rank < charted_rank
    return sent_at is not None and charted_sent_at is not None and sent_at < charted_sent_at


def _any(conditions: Any) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined


def _derive_report_status(codes: _Codes, report: ReportInput, as_of: date) -> str:
    """OBR-25 through table 0123; without one, from the results (all final: final)."""
    mapped = codes.report_status(report.status, as_of)
    if mapped:
        return mapped
    statuses = {codes.observation_status(o.status, as_of) for o in report.observations}
    if statuses and statuses <= FINAL_REPORT_STATUSES:
        return "final"
    return "preliminary" if statuses else "registered"


def _specimen_json(codes: _Codes, report: ReportInput) -> dict[str, Any]:
    spec = report.specimen
    if spec is None:
        return {}
    return {
        "id": spec.specimen_id,
        "type": codes.coding(spec.type) if spec.type else None,
        "collected_at": _iso(spec.collected_at),
        "received_at": _iso(spec.received_at),
    }


def _observation_row(
    codes: _Codes,
    tenant_id: int,
    patient_id: UUID,
    message: ResultMessage,
    w: _ReportWork,
    obs: ObservationInput,
    as_of: date,
) -> Any:
    coded = codes.test_code(obs.code, as_of)
    unit_text, ucum = _unit(obs.unit)
    report = w.row
    return new_row(
        Observation,
        id=uuid4(),
        tenant_id=tenant_id,
        report_id=report.id,
        patient_id=patient_id,
        encounter_id=w.target.encounter_id,
        sending_facility=message.sending_facility,
        placer_number=w.input.placer_number,
        filler_number=w.input.filler_number,
        accession=w.input.accession,
        code_key=_code_key(obs.code),
        sub_id=obs.sub_id[:20],
        set_id=obs.set_id[:10],
        coded=coded.as_dict(),
        loinc=coded.translated.code[:20] if coded.translated else "",
        value_type=obs.value_type,
        value_quantity=obs.numeric,
        value_comparator=obs.comparator,
        value_high=obs.numeric_high,
        value_separator=obs.sn_separator,
        value_string=obs.text if obs.value_type in ("ST", "TX", "FT") else "",
        value_coded=codes.coding(obs.coded) if obs.coded else None,
        unit=unit_text[:100],
        unit_ucum=ucum[:100],
        reference_range=obs.reference_range[:200],
        abnormal_flags=list(obs.abnormal_flags),
        interpretation=codes.memo(
            ("flags", obs.abnormal_flags, as_of), lambda: codes.interpretation(obs.abnormal_flags, as_of)
        ),
        status=codes.memo(("status", obs.status, as_of), lambda: codes.observation_status(obs.status, as_of)),
        v2_status=obs.status[:2],
        effective_at=obs.observed_at or w.input.observed_at,
        issued_at=obs.analysed_at or w.input.reported_at,
        comments=list(obs.comments),
        content_sha256=_sha(_received(obs)),
        source=message.source,
        sent_at=message.sent_at,
    )


def _apply_to_existing(
    tenant_id: int, message: ResultMessage, conflicts: list[tuple[_ReportWork, ObservationInput, Any]]
) -> None:
    """Observations charted before: the same (nothing to do), a later version (update, keep the
    prior), or an older one (record it, change nothing)."""
    current = {
        (o.report_id, o.code_key, o.sub_id): o
        for o in Observation.objects.select_for_update()
        .filter(
            Q(tenant_id=tenant_id),
            _any(Q(report_id=r.report_id, code_key=r.code_key, sub_id=r.sub_id) for _w, _o, r in conflicts),
        )
        .order_by("report_id", "code_key", "sub_id")  # one lock order for every delivery
    }
    # Late versions recorded before (one query for the message, not one per result).
    recorded_stale = set(
        ResultRevision.objects.filter(
            object_id__in=[o.id for o in current.values()], outcome=ResultRevision.Outcome.STALE
        ).values_list("object_id", "content__content_sha256")
    )
    revisions: list[ResultRevision] = []
    for w, _obs, incoming in conflicts:
        row = current[(incoming.report_id, incoming.code_key, incoming.sub_id)]
        w.observation_ids.append(row.id)
        if row.content_sha256 == incoming.content_sha256:
            w.unchanged += 1
            w.observations.append(row)
            continue
        if _older(incoming.status, incoming.sent_at, row.status, row.sent_at):
            w.stale += 1
            w.observations.append(row)
            if (row.id, incoming.content_sha256) not in recorded_stale:
                revisions.append(_revision(tenant_id, row, incoming, ResultRevision.Outcome.STALE, message.source))
            continue
        revisions.append(_revision(tenant_id, row, row, ResultRevision.Outcome.SUPERSEDED, row.source))
        for name in _OBSERVATION_FIELDS:
            if name == "report_id":
                continue  # an observation stays on the report it was charted on
            setattr(row, name, getattr(incoming, name))
        row.version += 1
        row.save()
        w.updated += 1
        w.corrected = w.corrected or incoming.v2_status == "C"
        w.observations.append(row)
    ResultRevision.objects.bulk_create(revisions)


def _revision(tenant_id: int, row: Observation, version: Any, outcome: str, source: str) -> ResultRevision:
    """A version of observation ``row`` kept aside: its prior self (superseded) or a received
    version that was not applied (stale)."""
    return ResultRevision(
        tenant_id=tenant_id,
        kind=ResultRevision.Kind.OBSERVATION,
        object_id=row.id,
        version=row.version,
        status=version.status,
        outcome=outcome,
        content=_snapshot(version, _OBSERVATION_FIELDS),
        source=source,
    )


def _finish(
    tenant_id: int, message: ResultMessage, patient_id: UUID, work: list[_ReportWork], *, actor: str
) -> ChartingOutcome:
    events: list[UUID] = []
    encounters: list[UUID] = []
    active = active_encounter_ids(tenant_id=tenant_id, patient_id=patient_id)
    totals = {"created": 0, "updated": 0, "unchanged": 0, "stale": 0}
    for w in work:
        incoming = w.incoming
        changed = w.new or w.created + w.updated > 0
        if incoming is not None:
            changed_report = w.report_changed and (
                not _older(incoming.status, incoming.sent_at, w.row.status, w.row.sent_at) or changed
            )
            if changed_report or changed:
                _update_report(tenant_id, w.row, incoming, message.source)
            w.corrected = w.corrected or incoming.v2_status == "C"
            changed = changed or changed_report
        for key in totals:
            totals[key] += getattr(w, key)
        if w.row.encounter_id and w.row.encounter_id not in encounters:
            encounters.append(w.row.encounter_id)
        w.changed = changed
    # Orders are locked in one order (by ID), whatever order the OBRs came in: two messages
    # for the same two orders never wait on each other.
    order_updates: dict[UUID, tuple[str, bool]] = {}
    for w in work:
        order = w.target.order
        final = w.row.status in FINAL_REPORT_STATUSES
        if (
            w.changed
            and order is not None
            and ((w.input.filler_number and not order.filler_number) or (final and order.status == OrderStatus.ACTIVE))
        ):
            filler, was_final = order_updates.get(order.id, ("", False))
            order_updates[order.id] = (filler or w.input.filler_number, was_final or final)
    for order_id in sorted(order_updates, key=str):
        filler, final = order_updates[order_id]
        record_result_status(tenant_id=tenant_id, order_id=order_id, filler_number=filler, final=final)
    for w in work:
        if not w.changed:
            continue
        order = w.target.order
        others = [e for e in active if e != w.row.encounter_id]
        visit = w.target.visit_number
        if others and not visit and w.row.encounter_id:
            visit = get_encounter(tenant_id=tenant_id, encounter_id=w.row.encounter_id).visit_number
        payload = _event_payload(w, message, order, visit_number=visit)
        event = publish(
            type=RESULT_CORRECTED if w.corrected else RESULT_AVAILABLE,
            tenant_id=tenant_id,
            patient_id=patient_id,
            encounter_id=w.row.encounter_id,
            payload=payload,
        )
        events.append(event.id)
        for other in others:
            flagged = publish(
                type=RESULT_FLAGGED, tenant_id=tenant_id, patient_id=patient_id, encounter_id=other, payload=payload
            )
            events.append(flagged.id)
    if totals["created"] + totals["updated"] > 0 or events:
        status = ChartStatus.CHARTED
        detail = (
            f"Charted {len(work)} report(s): {totals['created']} new, {totals['updated']} updated, "
            f"{totals['unchanged']} unchanged, {totals['stale']} older than charted (not applied)."
        )
    elif totals["stale"]:
        status = ChartStatus.STALE
        detail = (
            f"{totals['stale']} result(s) are older than the versions charted (e.g. preliminary after final): "
            "recorded, not applied."
        )
    else:
        status = ChartStatus.DUPLICATE
        detail = "Already charted: every result in this message was received before, identically."
    logger.info(
        "results.recorded tenant=%s status=%s reports=%s created=%s updated=%s unchanged=%s stale=%s",
        tenant_id,
        status.value,
        len(work),
        totals["created"],
        totals["updated"],
        totals["unchanged"],
        totals["stale"],
    )
    return ChartingOutcome(
        status=status,
        patient_id=patient_id,
        encounter_ids=tuple(encounters),
        report_ids=tuple(w.row.id for w in work),
        observation_ids=tuple(i for w in work for i in w.observation_ids),
        event_ids=tuple(events),
        detail=detail,
        placer_numbers=tuple(message.placer_numbers),
        created=totals["created"],
        updated=totals["updated"],
        unchanged=totals["unchanged"],
        stale=totals["stale"],
    )


def _update_report(tenant_id: int, row: DiagnosticReport, incoming: DiagnosticReport, source: str) -> None:
    ResultRevision.objects.create(
        tenant_id=tenant_id,
        kind=ResultRevision.Kind.REPORT,
        object_id=row.id,
        version=row.version,
        status=row.status,
        outcome=ResultRevision.Outcome.SUPERSEDED,
        content=_snapshot(row, _REPORT_FIELDS),
        source=row.source,
    )
    stale = _older(incoming.status, incoming.sent_at, row.status, row.sent_at)
    for name in _REPORT_FIELDS:
        if stale and name in ("status", "v2_status"):
            continue  # newer results under an older report status: keep the later status
        setattr(row, name, getattr(incoming, name))
    row.version += 1
    row.source = source
    row.save()


def _event_payload(
    w: _ReportWork, message: ResultMessage, order: OrderRecord | None, *, visit_number: str
) -> dict[str, Any]:
    coded = w.row.coded
    original = coded.get("original") or {}
    translated = coded.get("translated") or {}
    display = original.get("display") or translated.get("display") or original.get("code", "")
    abnormal = sum(1 for o in w.observations if any(f not in ("N", "") for f in o.abnormal_flags))
    count = len(w.observations)
    summary = f"Result: {display} ({w.row.status}), {count} observation{'s' if count != 1 else ''}"
    if abnormal:
        summary += f", {abnormal} abnormal"
    return {
        "report_id": str(w.row.id),
        "order_id": str(order.id) if order else None,
        "placer_number": w.row.placer_number,
        "filler_number": w.row.filler_number,
        "accession": w.row.accession,
        "code": original.get("code", ""),
        "display": display,
        "status": w.row.status,
        "summary": summary[:400],
        "observations": count,
        "abnormal": abnormal,
        "created": w.created,
        "updated": w.updated,
        "source": message.source,
        "visit_number": visit_number,
    }


# --- The work queue of held results -------------------------------------------------------------


def _patient_keys(message: ResultMessage) -> list[str]:
    keys = set()
    for p in message.patient_identifiers:
        value = p.value.strip()
        keys.add(f"{p.authority}|{value}")
        # As identity stores values (NHS numbers compacted): the release must find them.
        keys.add(f"{p.authority}|{value.replace(' ', '').replace('-', '')}")
    return sorted(keys)


def _held_digest(message: ResultMessage) -> str:
    """What makes two held messages the same result: what charting compares (the patient, the
    orders and what each result says), not the message's own time or set IDs."""
    return _sha(
        {
            "patient": sorted((p.authority, p.value.strip()) for p in message.patient_identifiers),
            "visit": message.visit_number,
            "reports": sorted(
                [
                    r.placer_number,
                    r.filler_number,
                    r.accession,
                    _report_received(r),
                    sorted(_sha(_received(o)) for o in r.observations),
                ]
                for r in message.reports
            ),
        }
    )


def _hold(tenant_id: int, message: ResultMessage, hold: _Hold) -> ChartingOutcome:
    content = message.to_json()
    content_sha = _held_digest(message)
    rows = [
        HeldResult(
            id=uuid4(),
            tenant_id=tenant_id,
            source=message.source[:100],
            reason=hold.reason.value,
            detail=hold.detail,
            patient_keys=_patient_keys(message),
            placer_numbers=message.placer_numbers,
            filler_numbers=message.filler_numbers,
            accessions=message.accessions,
            visit_number=message.visit_number[:40],
            payload=content,
            content_sha256=content_sha,
        )
    ]
    inserted = insert_new(HeldResult, rows, constraint="held_result_once_per_content")
    # Locked: a release charting it now finishes first, and this delivery then sees it charted.
    held = HeldResult.objects.select_for_update().get(tenant_id=tenant_id, content_sha256=content_sha)
    if not inserted and held.status != HeldResult.Status.HELD:
        # Held before and charted since (automatically, or filed by an admin to the patient
        # they chose): the same content again is a redelivery of a result already charted.
        produced = held.outcome or {}
        return ChartingOutcome(
            status=ChartStatus.DUPLICATE,
            patient_id=UUID(produced["patient"]) if produced.get("patient") else None,
            report_ids=tuple(UUID(r) for r in produced.get("reports", [])),
            observation_ids=tuple(UUID(o) for o in produced.get("observations", [])),
            held_id=held.pk,
            detail=f"Already charted: this result was {held.get_status_display().lower()} from the work queue.",
            placer_numbers=tuple(message.placer_numbers),
        )
    logger.info("results.held tenant=%s held=%s reason=%s", tenant_id, held.pk, hold.reason.value)
    return ChartingOutcome(
        status=ChartStatus.HELD,
        held_id=held.pk,
        hold_reason=hold.reason,
        detail=f"Held for review ({hold.reason.value}): {hold.detail}",
        placer_numbers=tuple(message.placer_numbers),
    )


def release_held(
    *, tenant_id: int, patient_keys: list[str] | None = None, placer_numbers: list[str] | None = None
) -> list[ChartingOutcome]:
    """Try again the held results these new facts may resolve (a patient registered or merged,
    an order placed), in the caller's transaction; each that now resolves is charted and
    ``result.released`` published. Returns the outcomes of those tried."""
    condition = Q()
    if patient_keys:
        condition |= Q(patient_keys__overlap=patient_keys)
    if placer_numbers:
        condition |= Q(placer_numbers__overlap=placer_numbers)
    if not condition:
        return []
    # Wait for a row another release holds (not skip it): that release may not see what this
    # event brought (the order placed while it looked for the patient). Rows are locked in
    # one order, so two releases cannot deadlock.
    candidates = list(
        HeldResult.objects.select_for_update()
        .filter(condition, tenant_id=tenant_id, status=HeldResult.Status.HELD)
        .order_by("created_at", "id")[:200]
    )
    outcomes = []
    for held in candidates:
        try:
            with transaction.atomic():  # a savepoint: one result that fails does not undo the others
                outcomes.append(_retry(held, actor="auto-release"))
        except Exception:
            logger.exception("results.release_failed tenant=%s held=%s", tenant_id, held.pk)
    return outcomes


def retry_held(*, limit: int = 200) -> int:
    """Try every held result again (oldest tried first), whatever event was missed: a patient
    registered while the result was being held, an event lost. Run by beat; each in its own
    transaction. Returns how many were charted."""
    charted = 0
    ids = list(
        HeldResult.objects.filter(status=HeldResult.Status.HELD)
        .order_by("last_tried_at")
        .values_list("pk", flat=True)[:limit]
    )
    for held_id in ids:
        try:
            with transaction.atomic(durable=True):
                held = (
                    HeldResult.objects.select_for_update(skip_locked=True)
                    .filter(pk=held_id, status=HeldResult.Status.HELD)
                    .first()
                )
                if held is None:
                    continue
                outcome = _retry(held, actor="held-sweep")
                charted += outcome.status != ChartStatus.HELD
        except Exception:
            logger.exception("results.retry_failed held=%s", held_id)
    return charted


def file_held_result(
    *, tenant_id: int, held_id: UUID, actor: str, patient_id: UUID | None = None, order_id: UUID | None = None
) -> ChartingOutcome:
    """An admin files a held result: to the patient (and order) they chose, or by retrying the
    lookup when none is given. Raises HeldResultNotFound, HeldResultClosed, ResultUnresolved
    (still unresolvable), NotFound (the chosen patient or order)."""
    with transaction.atomic(savepoint=False):
        held = HeldResult.objects.select_for_update().filter(tenant_id=tenant_id, pk=held_id).first()
        if held is None:
            raise HeldResultNotFound("No such held result.")
        if held.status != HeldResult.Status.HELD:
            raise HeldResultClosed(f"This result was already {held.get_status_display().lower()}.")
        if patient_id is not None:
            patient_id = resolve_patient_id(tenant_id=tenant_id, patient_id=patient_id)
        return _retry(held, actor=actor, patient_id=patient_id, order_id=order_id, by_admin=True)


def _retry(
    held: HeldResult,
    *,
    actor: str,
    patient_id: UUID | None = None,
    order_id: UUID | None = None,
    by_admin: bool = False,
) -> ChartingOutcome:
    message = ResultMessage.from_json(held.payload)
    now = timezone.now()
    resolution = _resolve(held.tenant_id, message, patient_id=patient_id, order_id=order_id)
    if isinstance(resolution, _Hold):
        if by_admin:
            raise ResultUnresolved(resolution.detail, [FieldProblem(resolution.reason.value, resolution.detail)])
        HeldResult.objects.filter(pk=held.pk).update(
            reason=resolution.reason.value, detail=resolution.detail, attempts=held.attempts + 1, last_tried_at=now
        )
        return ChartingOutcome(
            status=ChartStatus.HELD, held_id=held.pk, hold_reason=resolution.reason, detail=resolution.detail
        )
    outcome = _chart(held.tenant_id, message, resolution, actor=actor)
    held.status = HeldResult.Status.FILED if by_admin else HeldResult.Status.RELEASED
    held.released_at = now
    held.released_by = actor[:100]
    held.last_tried_at = now
    held.attempts += 1
    held.outcome = outcome.produced()
    held.save(update_fields=["status", "released_at", "released_by", "last_tried_at", "attempts", "outcome"])
    released = publish(
        type=RESULT_RELEASED,
        tenant_id=held.tenant_id,
        patient_id=outcome.patient_id,
        payload={
            "held_id": str(held.pk),
            "source": held.source,
            "status": outcome.status.value,
            "detail": outcome.detail,
            "produced": outcome.produced(),
            "by": actor,
        },
    )
    logger.info("results.released tenant=%s held=%s status=%s", held.tenant_id, held.pk, outcome.status.value)
    return ChartingOutcome(
        status=outcome.status,
        patient_id=outcome.patient_id,
        encounter_ids=outcome.encounter_ids,
        report_ids=outcome.report_ids,
        observation_ids=outcome.observation_ids,
        event_ids=(*outcome.event_ids, released.id),
        held_id=held.pk,
        detail=outcome.detail,
        created=outcome.created,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        stale=outcome.stale,
        placer_numbers=outcome.placer_numbers,
    )
