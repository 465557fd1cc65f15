"""From ER7 segments to the plain data the domain takes: ORU^R01 → ``ResultMessage``, ADT →
patient registration, update and merge requests. Every problem found is reported with its
location (an ERR segment), never guessed around.

Field positions follow HL7 v2.5.1 chapters 3 (PID, PV1, MRG) and 7 (ORC, OBR, OBX, NTE, SPM).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from interop.v2.ack import Problem
from interop.v2.er7 import Message, Segment
from results.contracts import (
    CodedInput,
    ObservationInput,
    PatientIdentifierInput,
    ReportInput,
    ResultMessage,
    SpecimenInput,
    ValueType,
)


class MessageInvalid(Exception):
    """The message cannot be charted as sent; ``problems`` become ERR segments (AE)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.text for p in problems))
        self.problems = problems


_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2}(?:\.\d{1,4})?)?([+-]\d{4})?$")
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
SN_COMPARATORS = {"", "<", ">", "<=", ">=", "=", "<>"}
SN_SEPARATORS = {"", "-", ":", "/", "+"}


@dataclass
class Problems:
    """Collects the problems of one message, so the sender hears of all of them at once."""

    items: list[Problem] = field(default_factory=list)

    def add(
        self, code: str, text: str, segment: Segment | None = None, f: int | None = None, c: int | None = None
    ) -> None:
        self.items.append(
            Problem(
                code=code,
                text=text,
                segment=segment.id if segment else "",
                sequence=segment.occurrence if segment else None,
                field=f,
                component=c,
            )
        )


EARLIEST_YEAR, LATEST_YEAR = 1800, 2200


def parse_dtm(value: str, zone: ZoneInfo) -> datetime:
    """An HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]) as an aware datetime; without an
    offset it is the clinic's local time. Raises ValueError."""
    m = _DTM.match(value.strip())
    if not m:
        raise ValueError(value)
    year, month, day, hour, minute, second, offset = m.groups()
    sec = Decimal(second) if second else Decimal(0)
    tz: timezone | ZoneInfo = zone
    if offset:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[3:5])
        if hours > 14 or minutes > 59:
            raise ValueError(value)
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    parsed = datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(sec),
        int((sec % 1) * 1_000_000),
        tzinfo=tz,
    )
    # Outside what a clinical record holds (and what survives a round trip through the
    # database and Python at every offset): a typo, not a date.
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise ValueError(value)
    return parsed


class _Reader:
    def __init__(self, zone: ZoneInfo, problems: Problems) -> None:
        self.zone = zone
        self.problems = problems

    def when(self, segment: Segment, n: int, c: int | None = None) -> datetime | None:
        raw = segment.component(n, c) if c else segment.component(n, 1)
        if not raw:
            return None
        try:
            return parse_dtm(raw, self.zone)
        except ValueError:
            self.problems.add(
                "102", f"{segment.id}-{n} {raw!r} is not an HL7 date/time (YYYYMMDDHHMMSS[+ZZZZ])", segment, n
            )
            return None

    def text(self, segment: Segment, n: int, *, limit: int, what: str) -> str:
        value = segment.field(n).strip()
        if len(value) > limit:
            self.problems.add("102", f"{segment.id}-{n} ({what}) is longer than {limit} characters", segment, n)
            return value[:limit]
        return value

    def coded(self, segment: Segment, n: int, repetition: int = 0) -> CodedInput | None:
        parts = segment.components(n, repetition)
        if not parts or not any(parts[:3]):
            return None
        parts += [""] * (3 - len(parts))
        return CodedInput(code=parts[0].strip()[:100], display=parts[1].strip()[:200], v2_system=parts[2].strip()[:40])

    def number(self, segment: Segment, n: int, raw: str, c: int | None = None) -> Decimal | None:
        raw = raw.strip()
        if not raw:
            return None
        if not _NUMBER.match(raw):
            where = f"{segment.id}-{n}" + (f".{c}" if c else "")
            self.problems.add("102", f"{where} {raw!r} is not a number (value type NM)", segment, n, c)
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            self.problems.add("102", f"{segment.id}-{n} {raw!r} is not a number", segment, n, c)
            return None
        value = value.quantize(Decimal("1e-8"))  # the precision stored (numeric(24, 8))
        if abs(value) >= Decimal("1e16"):
            self.problems.add("102", f"{segment.id}-{n} {raw!r} is too large", segment, n, c)
            return None
        return value


def patient_identifiers(pid: Segment, problems: Problems) -> tuple[PatientIdentifierInput, ...]:
    """PID-3 repetitions (CX: ID ^ check digit ^ scheme ^ assigning authority ^ type)."""
    out = []
    for rep in range(len(pid.repetitions(3))):
        value = pid.component(3, 1, rep).strip()
        authority = pid.component(3, 4, rep).strip()
        if value:
            out.append(
                PatientIdentifierInput(value=value[:100], authority=authority[:64], type_code=pid.component(3, 5, rep))
            )
    if not out:
        problems.add("101", "PID-3 (patient identifier list) is required", pid, 3)
    return tuple(out)


def result_message(message: Message, *, sending_facility: str, zone: ZoneInfo, source: str) -> ResultMessage:
    """An ORU^R01 as a ``ResultMessage``. Raises MessageInvalid naming every problem."""
    problems = Problems()
    r = _Reader(zone, problems)
    pid = message.first("PID")
    identifiers: tuple[PatientIdentifierInput, ...] = ()
    pids = message.all("PID")
    if len(pids) > 1:
        # ORU^R01 may carry several patients; we chart one patient per message, never guess
        # which results belong to whom.
        problems.add(
            "100", f"The message names {len(pids)} patients (PID segments): send one patient per message", pids[1]
        )
    if pid is None:
        problems.add("100", "The message has no PID segment: results must name their patient")
    else:
        identifiers = patient_identifiers(pid, problems)
        r.when(pid, 7)  # a birth date that is not a date is a data error worth refusing
    pv1 = message.first("PV1")
    visit = pv1.component(19, 1).strip()[:40] if pv1 else ""

    reports: list[dict[str, object]] = []
    orc: Segment | None = None
    last: dict[str, object] | None = None  # the OBR or OBX an NTE belongs to
    for segment in message.segments[1:]:
        sid = segment.id
        if not _SEGMENT_ID.match(sid):
            problems.add(
                "100", f"Segment {segment.index} has an invalid segment ID {sid[:10]!r} (truncated or garbled?)"
            )
            continue
        if sid == "ORC":
            orc = segment
        elif sid == "OBR":
            report = _report(segment, orc, r)
            reports.append(report)
            last = report
        elif sid == "OBX":
            if not reports:
                problems.add("100", "OBX before any OBR: each result must follow its order (OBR)", segment)
                continue
            obs = _observation(segment, r)
            observations = reports[-1]["observations"]
            assert isinstance(observations, list)
            observations.append(obs)
            last = obs
        elif sid == "NTE" and last is not None:
            comments = last["comments"]
            assert isinstance(comments, list)
            text = segment.field(3).strip()
            if text:
                comments.append(text[:2000])
        elif sid == "SPM" and reports:
            reports[-1]["specimen"] = SpecimenInput(
                specimen_id=segment.component(2, 1).strip()[:80] or segment.component(2, 2).strip()[:80],
                type=r.coded(segment, 4),
                collected_at=r.when(segment, 17),
                received_at=r.when(segment, 18),
            )
    if not reports and not problems.items:
        problems.add("100", "The message has no OBR segment: there is no result in it")
    for report in reports:
        observations = report["observations"]
        assert isinstance(observations, list)
        report["observations"] = _merge_text_lines(observations, problems)
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
        reports=tuple(
            ReportInput(
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
            for rep in reports
        ),
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
            first_comments, more = first["comments"], obs["comments"]
            assert isinstance(first_comments, list)
            assert isinstance(more, list)
            first_comments.extend(more)
            continue
        problems.add(
            "205",
            f"OBX {obs['set_id']} repeats the observation identifier and sub-ID of OBX {first['set_id']} "
            "(give each result its own OBX-4 sub-ID)",
        )
    return merged


def _report(obr: Segment, orc: Segment | None, r: _Reader) -> dict[str, object]:
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


def _observation(obx: Segment, r: _Reader) -> dict[str, object]:
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
    if vt == "NM":
        out["numeric"] = r.number(obx, 5, obx.field(5))
        out["text"] = obx.field(5).strip()
    elif vt in ("ST", "TX", "FT"):
        # Repetitions of a text value are lines of one text.
        out["text"] = "\n".join(obx.unescape(rep) for rep in obx.repetitions(5))[:20000]
    elif vt in ("CWE", "CE"):
        out["coded"] = r.coded(obx, 5)
        out["text"] = obx.field(5)
    elif vt == "SN":
        parts = obx.components(5) + [""] * 4
        comparator, first, separator, second = (p.strip() for p in parts[:4])
        if comparator not in SN_COMPARATORS:
            r.problems.add("102", f"OBX-5.1 comparator {comparator!r} is not one of < > <= >= = <>", obx, 5, 1)
        if separator not in SN_SEPARATORS:
            r.problems.add("102", f"OBX-5.3 separator {separator!r} is not one of - : / +", obx, 5, 3)
        out["comparator"] = comparator
        out["numeric"] = r.number(obx, 5, first, 1)
        out["sn_separator"] = separator
        out["numeric_high"] = r.number(obx, 5, second, 4)
        out["text"] = obx.field(5)
    return out


def _freeze(o: dict[str, object]) -> ObservationInput:
    comments = o.pop("comments")
    assert isinstance(comments, list)
    return ObservationInput(comments=tuple(comments), **o)  # type: ignore[arg-type]


# --- ADT ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonInput:
    """What an ADT PID says about a person."""

    identifiers: tuple[PatientIdentifierInput, ...]
    family: str
    given: tuple[str, ...]
    birth_date: date | None
    gender: str  # FHIR AdministrativeGender
    phones: tuple[str, ...]
    address: tuple[dict[str, object], ...]


SEX = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}


def person(pid: Segment, zone: ZoneInfo, problems: Problems) -> PersonInput:
    """PID as a person: identifiers (PID-3), name (PID-5), birth date (PID-7), sex (PID-8,
    table 0001), address (PID-11), phone (PID-13)."""
    r = _Reader(zone, problems)
    identifiers = patient_identifiers(pid, problems)
    family = pid.component(5, 1).strip()
    if not family:
        problems.add("101", "PID-5.1 (family name) is required", pid, 5, 1)
    given = tuple(g for g in (pid.component(5, 2).strip(), pid.component(5, 3).strip()) if g)
    born = r.when(pid, 7)
    sex = pid.field(8).strip().upper()[:1]
    if sex and sex not in SEX:
        problems.add("103", f"PID-8 sex {sex!r} is not in HL7 table 0001 (M, F, O, U, A, N)", pid, 8)
    address: list[dict[str, object]] = []
    for rep in range(len(pid.repetitions(11))):
        parts = pid.components(11, rep) + [""] * 6
        line = [p for p in (parts[0].strip(), parts[1].strip()) if p]
        entry: dict[str, object] = {
            k: v
            for k, v in {
                "line": line,
                "city": parts[2].strip(),
                "state": parts[3].strip(),
                "postalCode": parts[4].strip(),
                "country": parts[5].strip(),
            }.items()
            if v
        }
        if entry:
            address.append(entry)
    phones = tuple(
        (pid.component(13, 1, rep) or pid.component(13, 12, rep)).strip()[:50]
        for rep in range(len(pid.repetitions(13)))
        if (pid.component(13, 1, rep) or pid.component(13, 12, rep)).strip()
    )
    return PersonInput(
        identifiers=identifiers,
        family=family[:100],
        given=tuple(g[:100] for g in given),
        birth_date=born.date() if born else None,
        gender=SEX.get(sex, "unknown"),
        phones=phones,
        address=tuple(address),
    )
