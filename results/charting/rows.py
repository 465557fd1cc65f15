"""The rows a message becomes: a DiagnosticReport per OBR, an Observation per OBX, coded and
digested, ready for ``results.sql``'s inserts."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from django.utils import timezone

from clinic.db import new_row
from results.charting.coding import Codes, code_key, derive_report_status, unit_of
from results.charting.digests import iso, observation_as_received, report_as_received, sha
from results.charting.resolution import Target
from results.charting.work import ReportWork
from results.contracts import ObservationInput, ReportInput, ResultMessage
from results.models import DiagnosticReport, Observation


def as_of(*times: datetime | None) -> date:
    """The date codes are translated as of: the first of ``times`` known, else today."""
    return (next((t for t in times if t), None) or timezone.now()).date()


def report_row(
    codes: Codes, tenant_id: int, patient_id: UUID, message: ResultMessage, report: ReportInput, target: Target
) -> DiagnosticReport:
    """The report of one OBR, for ``target``; codes as of when it was observed (or reported)."""
    on = as_of(report.observed_at, report.reported_at)
    coded = codes.test_code(report.code, on)
    derived = derive_report_status(codes, report, on)
    received = report_as_received(report)
    return DiagnosticReport(
        id=uuid4(),
        tenant_id=tenant_id,
        patient_id=patient_id,
        encounter_id=target.encounter_id,
        order_id=target.order.id if target.order else None,
        sending_facility=message.sending_facility,
        placer_number=report.placer_number,
        filler_number=report.filler_number,
        accession=report.accession,
        code_key=code_key(report.code),
        coded=coded.as_dict(),
        status=derived,
        v2_status=report.status[:2],
        effective_at=report.observed_at,
        issued_at=report.reported_at,
        specimen=specimen_json(codes, report),
        comments=list(report.comments),
        content_sha256=sha(received),
        source=message.source,
        sent_at=message.sent_at,
    )


def specimen_json(codes: Codes, report: ReportInput) -> dict[str, Any]:
    spec = report.specimen
    if spec is None:
        return {}
    return {
        "id": spec.specimen_id,
        "type": codes.coding(spec.type) if spec.type else None,
        "collected_at": iso(spec.collected_at),
        "received_at": iso(spec.received_at),
    }


def observation_row(
    codes: Codes,
    tenant_id: int,
    patient_id: UUID,
    message: ResultMessage,
    w: ReportWork,
    obs: ObservationInput,
) -> Any:
    """The observation of one OBX of ``w``'s report (a ``clinic.db.new_row``); codes as of when it
    (else its report) was observed."""
    on = as_of(obs.observed_at, w.input.observed_at)
    coded = codes.test_code(obs.code, on)
    unit_text, ucum = unit_of(obs.unit)
    report = w.row
    return new_row(
        Observation,
        id=uuid4(),
        tenant_id=tenant_id,
        report_id=report.id,
        patient_id=patient_id,
        encounter_id=w.target.encounter_id,
        sending_facility=message.sending_facility,
        placer_number=w.row.placer_number,  # the report's: it may be the one charted before
        filler_number=w.input.filler_number,
        accession=w.input.accession,
        code_key=code_key(obs.code),
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
            ("flags", obs.abnormal_flags, on), lambda: codes.interpretation(obs.abnormal_flags, on)
        ),
        status=codes.memo(("status", obs.status, on), lambda: codes.observation_status(obs.status, on)),
        v2_status=obs.status[:2],
        effective_at=obs.observed_at or w.input.observed_at,
        issued_at=obs.analysed_at or w.input.reported_at,
        comments=list(obs.comments),
        performer=asdict(obs.performer) if obs.performer else {},
        content_sha256=sha(observation_as_received(obs)),
        source=message.source,
        sent_at=message.sent_at,
    )
