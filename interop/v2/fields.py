"""Reading typed values out of ER7 fields (HL7 v2.5.1 chapter 2.A: DTM, NM, CWE, CX, text), for
the ORU and ADT mappings alike. Every problem found is collected with its location (an ERR
segment), never guessed around, so the sender hears of all of them at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings

from interop.v2.ack import Problem
from interop.v2.er7 import Segment
from results.contracts import CodedInput, PatientIdentifierInput

_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2}(?:\.\d{1,4})?)?([+-]\d{4})?$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")

EARLIEST_YEAR, LATEST_YEAR = 1800, 2200


def local_zone() -> ZoneInfo:
    """The zone of HL7 times sent without an offset (``CLINIC_HL7_LOCAL_TIMEZONE``)."""
    return ZoneInfo(settings.CLINIC_HL7_LOCAL_TIMEZONE)


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


class FieldReader:
    """Typed reads of fields; a value that is not of its type is reported to ``problems`` and
    read as absent."""

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
