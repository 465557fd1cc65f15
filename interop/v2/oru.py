"""ORU^R01 (HL7 v2.5.1 chapter 7: ORC, OBR, OBX, NTE, SPM) into the chart: the message mapped
to the ``ResultMessage`` results takes, then charted with its stored outcome in one
transaction. Duplicates, corrections and held results are recognised by results, by business
key (docs/hl7v2.md, ADR 0005); the status of the stored message follows its verdict.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from clinic.contracts import DomainError
from interop.models import InboundMessage, LabPartner
from interop.v2 import store
from interop.v2.ack import MessageInvalid, Problem
from interop.v2.er7 import Message, Segment
from interop.v2.fields import FieldReader, Problems, local_zone, patient_identifiers
from results.contracts import (
    ChartStatus,
    CodedInput,
    ObservationInput,
    PatientIdentifierInput,
    PerformerInput,
    ReportInput,
    ResultMessage,
    SpecimenInput,
    UnsolicitedResults,
    ValueType,
)
from results.facade import record_result

_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
SN_COMPARATORS = {"", "<", ">", "<=", ">=", "=", "<>"}
SN_SEPARATORS = {"", "-", ":", "/", "+"}
STATUS_BY_CHART = {
    ChartStatus.CHARTED: InboundMessage.Status.PROCESSED,
    ChartStatus.STALE: InboundMessage.Status.PROCESSED,
    ChartStatus.DUPLICATE: InboundMessage.Status.DUPLICATE,
    ChartStatus.HELD: InboundMessage.Status.HELD,
}


# --- Charting (the use case) ----------------------------------------------------------------------


def chart_result(
    received: store.Received, message: Message, partner: LabPartner, *, ack_control_id: str, transport: str
) -> store.Outcome:
    """Map an ORU^R01 and chart it for ``partner``'s clinic in one transaction (durable: this is
    the use case) with the message's outcome and the AA that will say it. A message that
    cannot be charted as sent, or that results refuses, is an AE outcome: nothing is charted."""
    try:
        results = result_message(
            message, sending_facility=partner.facility, zone=local_zone(), source=f"hl7:{received.id}"
        )
    except MessageInvalid as exc:
        accessions, placers = order_numbers(message)
        return store.Outcome.rejected("AE", exc.problems, accessions=accessions, placer_numbers=placers)
    try:
        with transaction.atomic(durable=True):
            return _chart(received, results, partner, ack_control_id=ack_control_id, transport=transport)
    except DomainError as exc:
        text = exc.describe(separator=" ")
        return store.Outcome.rejected(
            "AE",
            [Problem("207", text)],
            text,
            accessions=results.accessions,
            placer_numbers=results.placer_numbers,
        )


def _chart(
    received: store.Received, results: ResultMessage, partner: LabPartner, *, ack_control_id: str, transport: str
) -> store.Outcome:
    charted = record_result(
        tenant_id=partner.tenant_id,
        message=results,
        actor=f"lab:{partner.pk}",
        unsolicited=UnsolicitedResults(partner.unsolicited_results),
    )
    outcome = store.Outcome(
        status=STATUS_BY_CHART[charted.status],
        code="AA",
        text=charted.detail,
        produced=charted.produced(),
        event_ids=[str(e) for e in charted.event_ids],
        patient_id=charted.patient_id,
        held_id=charted.held_id,
        committed=True,
        accessions=results.accessions,
        placer_numbers=results.placer_numbers,
        recorded=True,
    )
    now = timezone.now()
    # The outcome and the ACK that will say it, in the clinical transaction: one write.
    store.record_charted(
        received,
        partner,
        outcome,
        ack_control_id=ack_control_id,
        committed_at=now,
        acknowledged_at=now if transport == InboundMessage.Transport.HTTP else None,
    )
    return outcome


def order_numbers(message: Message) -> tuple[list[str], list[str]]:
    """(accessions, placer numbers) of a message that could not be mapped, best effort: the
    support trace must find a refused result by the numbers the lab quotes."""
    accessions, placers = set(), set()
    for obr in message.all("OBR"):
        filler, placer = obr.component(3, 1).strip()[:80], obr.component(2, 1).strip()[:80]
        if filler:
            accessions.add(filler)
        if placer:
            placers.add(placer)
    return sorted(accessions), sorted(placers)


# --- Mapping --------------------------------------------------------------------------------------


def result_message(message: Message, *, sending_facility: str, zone: ZoneInfo, source: str) -> ResultMessage:
    """An ORU^R01 as a ``ResultMessage``. Raises MessageInvalid naming every problem."""
    problems = Problems()
    r = FieldReader(zone, problems)
    identifiers = _patient(message, r)
    pv1 = message.first("PV1")
    visit = pv1.component(19, 1).strip()[:40] if pv1 else ""
    reports = _reports(message, r)
    if problems.items:
        raise MessageInvalid(problems.items)
    sent_at = r.when(message.msh, 7)
    if problems.items:
        raise MessageInvalid(problems.items)
    return ResultMessage(
        sent_at=sent_at,
        sending_facility=sending_facility,
        patient_identifiers=identifiers,
        visit_number=visit,
        source=source,
        reports=tuple(_report_input(report) for report in reports),
    )


def _patient(message: Message, r: FieldReader) -> tuple[PatientIdentifierInput, ...]:
    """PID-3 of the one patient the message is about."""
    pids = message.all("PID")
    if len(pids) > 1:
        # ORU^R01 may carry several patients; we chart one patient per message, never guess
        # which results belong to whom.
        r.problems.add(
            "100", f"The message names {len(pids)} patients (PID segments): send one patient per message", pids[1]
        )
    if not pids:
        r.problems.add("100", "The message has no PID segment: results must name their patient")
        return ()
    identifiers = patient_identifiers(pids[0], r.problems)
    r.when(pids[0], 7)  # a birth date that is not a date is a data error worth refusing
    return identifiers


def _reports(message: Message, r: FieldReader) -> list[dict[str, object]]:
    """One report per OBR, with the OBX, NTE and SPM that follow it (ORC before it)."""
    reports: list[dict[str, object]] = []
    orc: Segment | None = None
    last: dict[str, object] | None = None  # the OBR or OBX an NTE belongs to
    for segment in message.segments[1:]:
        sid = segment.id
        if not _SEGMENT_ID.match(sid):
            r.problems.add(
                "100", f"Segment {segment.index} has an invalid segment ID {sid[:10]!r} (truncated or garbled?)"
            )
        elif sid == "ORC":
            orc = segment
        elif sid == "OBR":
            last = _report(segment, orc, r)
            reports.append(last)
        elif sid == "OBX" and not reports:
            r.problems.add("100", "OBX before any OBR: each result must follow its order (OBR)", segment)
        elif sid == "OBX":
            last = _observation(segment, r)
            _list(reports[-1], "observations").append(last)
        elif sid == "NTE" and last is not None:
            text = segment.field(3).strip()
            if text:
                _list(last, "comments").append(text[:2000])
        elif sid == "SPM" and reports:
            reports[-1]["specimen"] = _specimen(segment, r)
    if not reports and not r.problems.items:
        r.problems.add("100", "The message has no OBR segment: there is no result in it")
    for report in reports:
        report["observations"] = _merge_text_lines(_list(report, "observations"), r.problems)
    return reports


def _list(item: dict[str, object], key: str) -> list[Any]:
    value = item[key]
    assert isinstance(value, list)
    return value


def _specimen(spm: Segment, r: FieldReader) -> SpecimenInput:
    return SpecimenInput(
        specimen_id=spm.component(2, 1).strip()[:80] or spm.component(2, 2).strip()[:80],
        type=r.coded(spm, 4),
        collected_at=r.when(spm, 17),
        received_at=r.when(spm, 18),
    )


def _report_input(rep: dict[str, object]) -> ReportInput:
    return ReportInput(
        set_id=str(rep["set_id"]),
        placer_number=str(rep["placer"]),
        filler_number=str(rep["filler"]),
        accession=str(rep["accession"]),
        code=rep["code"],  # type: ignore[arg-type]
        status=str(rep["status"]),
        observed_at=rep["observed_at"],  # type: ignore[arg-type]
        reported_at=rep["reported_at"],  # type: ignore[arg-type]
        specimen=rep.get("specimen"),  # type: ignore[arg-type]
        comments=tuple(rep["comments"]),  # type: ignore[arg-type]
        observations=tuple(_freeze(o) for o in rep["observations"]),  # type: ignore[attr-defined]
    )


TEXT_TYPES = {"ST", "TX", "FT"}


def _merge_text_lines(observations: list[dict[str, object]], problems: Problems) -> list[dict[str, object]]:
    """OBX with the same OBX-3 and OBX-4 in one OBR: consecutive text ones are the lines of
    one narrative (how labs send reports); other repeats have no key of their own and are
    refused rather than charted over each other (HL7 v2.5.1 7.4.2.4: OBX-4 tells them apart)."""
    merged: list[dict[str, object]] = []
    seen: dict[tuple[object, object], dict[str, object]] = {}
    for obs in observations:
        code = obs["code"]
        key = ((code.v2_system, code.code) if isinstance(code, CodedInput) else code, obs["sub_id"])
        first = seen.get(key)
        if first is None:
            seen[key] = obs
            merged.append(obs)
            continue
        if first["value_type"] in TEXT_TYPES and obs["value_type"] in TEXT_TYPES and merged[-1] is first:
            first["text"] = f"{first['text']}\n{obs['text']}"[:20000]
            _list(first, "comments").extend(_list(obs, "comments"))
            continue
        problems.add(
            "205",
            f"OBX {obs['set_id']} repeats the observation identifier and sub-ID of OBX {first['set_id']} "
            "(give each result its own OBX-4 sub-ID)",
        )
    return merged


def _report(obr: Segment, orc: Segment | None, r: FieldReader) -> dict[str, object]:
    placer = obr.component(2, 1).strip() or (orc.component(2, 1).strip() if orc else "")
    filler = obr.component(3, 1).strip() or (orc.component(3, 1).strip() if orc else "")
    for what, value, n in (("placer order number", placer, 2), ("filler order number", filler, 3)):
        if len(value) > 80:
            r.problems.add("102", f"OBR-{n} ({what}) is longer than 80 characters", obr, n)
    code = r.coded(obr, 4)
    if code is None or not code.code:
        r.problems.add("101", "OBR-4 (universal service identifier) is required", obr, 4)
        code = CodedInput(code="")
    status = obr.field(25).strip()[:2]
    return {
        "set_id": obr.field(1).strip()[:10],
        "placer": placer[:80],
        "filler": filler[:80],
        # The lab's accession: the filler order number (HL7 v2.5.1 4.5.1.3), which labs use as
        # their accession; OBR-20 (filler field 1) when the filler number is absent.
        "accession": (filler or obr.component(20, 1).strip())[:80],
        "code": code,
        "status": status,
        "observed_at": r.when(obr, 7),
        "reported_at": r.when(obr, 22),
        "comments": [],
        "observations": [],
    }


def _observation(obx: Segment, r: FieldReader) -> dict[str, object]:
    vt = obx.field(2).strip().upper()
    code = r.coded(obx, 3)
    if code is None or not code.code:
        r.problems.add("101", "OBX-3 (observation identifier) is required", obx, 3)
        code = CodedInput(code="")
    value_raw = obx.raw(5)
    out: dict[str, object] = {
        "set_id": obx.field(1).strip(),
        "value_type": vt,
        "code": code,
        "sub_id": obx.field(4).strip()[:20],
        "text": "",
        "numeric": None,
        "comparator": "",
        "numeric_high": None,
        "sn_separator": "",
        "coded": None,
        "unit": r.coded(obx, 6),
        "reference_range": obx.field(7).strip()[:200],
        "abnormal_flags": tuple(obx.unescape(f).strip()[:10] for f in obx.repetitions(8) if f.strip()),
        "status": obx.field(11).strip()[:2],
        "observed_at": r.when(obx, 14),
        "analysed_at": r.when(obx, 19),
        "comments": [],
        "performer": _performer(obx),
    }
    if not out["status"]:
        # Required (HL7 v2.5.1 7.4.2.11); an OBX without it is most often one cut off in transit.
        r.problems.add("101", "OBX-11 (observation result status) is required", obx, 11)
    if not vt:
        if value_raw.strip():
            r.problems.add("101", "OBX-2 (value type) is required when OBX-5 has a value", obx, 2)
        out["value_type"] = ValueType.ST.value
        return out
    if vt not in ValueType.__members__:
        r.problems.add(
            "102",
            f"OBX-2 value type {vt!r} is not supported (supported: {', '.join(ValueType.__members__)})",
            obx,
            2,
        )
        return out
    read = _VALUE_READERS.get(vt)
    if read is not None:
        out.update(read(obx, r))
    return out


def _performer(obx: Segment) -> PerformerInput | None:
    """OBX-23 performing organization name (XON: 1 name, 6 assigning authority as HD
    namespace&OID&ISO, 10 organization identifier; XON-3, the ID number before v2.5, when XON-10
    is empty) and OBX-24 its address (XAD), HL7 v2.5.1 7.4.2.23-24."""
    parts = obx.components(23) + [""] * 10
    name = parts[0].strip()
    if not name:
        return None
    authority = [*parts[5].split(obx.seps.subcomponent), "", "", ""]
    oid = authority[1].strip() if authority[2].strip().upper() == "ISO" else ""
    address = obx.components(24)
    street = address[0].split(obx.seps.subcomponent)[0] if address else ""
    line = ", ".join(p.strip() for p in [street, *address[1:6]] if p.strip())
    return PerformerInput(
        name=name[:200],
        identifier=(parts[9].strip() or parts[2].strip())[:80],
        authority=authority[0].strip()[:80],
        authority_oid=oid[:80],
        address=line[:300],
    )


def _numeric_value(obx: Segment, r: FieldReader) -> dict[str, object]:
    return {"numeric": r.number(obx, 5, obx.field(5)), "text": obx.field(5).strip()}


def _text_value(obx: Segment, r: FieldReader) -> dict[str, object]:
    # Repetitions of a text value are lines of one text.
    return {"text": "\n".join(obx.unescape(rep) for rep in obx.repetitions(5))[:20000]}


def _coded_value(obx: Segment, r: FieldReader) -> dict[str, object]:
    return {"coded": r.coded(obx, 5), "text": obx.field(5)}


def _structured_numeric_value(obx: Segment, r: FieldReader) -> dict[str, object]:
    """SN (HL7 v2.5.1 2.A.74): comparator ^ number ^ separator/suffix ^ number."""
    parts = obx.components(5) + [""] * 4
    comparator, first, separator, second = (p.strip() for p in parts[:4])
    if comparator not in SN_COMPARATORS:
        r.problems.add("102", f"OBX-5.1 comparator {comparator!r} is not one of < > <= >= = <>", obx, 5, 1)
    if separator not in SN_SEPARATORS:
        r.problems.add("102", f"OBX-5.3 separator {separator!r} is not one of - : / +", obx, 5, 3)
    return {
        "comparator": comparator,
        "numeric": r.number(obx, 5, first, 1),
        "sn_separator": separator,
        "numeric_high": r.number(obx, 5, second, 4),
        "text": obx.field(5),
    }


# OBX-2 value type → how OBX-5 is read (every type of ``ValueType``).
_VALUE_READERS = {
    "NM": _numeric_value,
    "ST": _text_value,
    "TX": _text_value,
    "FT": _text_value,
    "CWE": _coded_value,
    "CE": _coded_value,
    "SN": _structured_numeric_value,
}


def _freeze(o: dict[str, object]) -> ObservationInput:
    comments = o.pop("comments")
    assert isinstance(comments, list)
    return ObservationInput(comments=tuple(comments), **o)  # type: ignore[arg-type]
