"""The concept map CSV format (documented in docs/terminology.md), parsed and checked.

Header (this exact set of columns, any order):

    source_system,source_code,source_display,target_system,target_code,target_display,
    equivalence,valid_from,valid_to,comment

- ``*_system``: canonical URIs of registered code systems (global or the tenant's).
- ``equivalence``: FHIR R4 ConceptMapEquivalence (default ``equivalent`` when empty).
- ``valid_from``: ISO date (default 1900-01-01 when empty); ``valid_to``: ISO date, exclusive,
  empty for open-ended.

Every problem is reported with its line number (line 1 is the header); a file with any problem
loads nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from clinic.contracts import FieldProblem
from terminology.models import ConceptMapEntry

COLUMNS = [
    "source_system",
    "source_code",
    "source_display",
    "target_system",
    "target_code",
    "target_display",
    "equivalence",
    "valid_from",
    "valid_to",
    "comment",
]
REQUIRED = ["source_system", "source_code", "target_system", "target_code"]
DEFAULT_VALID_FROM = date(1900, 1, 1)
MAX_LENGTHS = {
    "source_system": 255,
    "source_code": 100,
    "source_display": 500,
    "target_system": 255,
    "target_code": 100,
    "target_display": 500,
    "equivalence": 20,
}
EQUIVALENCES = {e.value for e in ConceptMapEntry.Equivalence}


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    source_system: str
    source_code: str
    source_display: str
    target_system: str
    target_code: str
    target_display: str
    equivalence: str
    valid_from: date
    valid_to: date | None
    comment: str


def _date(value: str) -> date:
    return date.fromisoformat(value)


def parse(data: bytes, *, known_systems: set[str]) -> tuple[list[Row], list[FieldProblem]]:
    """Rows of a concept map file, and its problems (``line N``: reason)."""
    problems: list[FieldProblem] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [FieldProblem("file", f"is not UTF-8 text ({exc.reason} at byte {exc.start})")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [FieldProblem("file", "is empty: expected a header line")]
    except csv.Error as exc:
        return [], [FieldProblem("line 1", f"is not valid CSV: {exc}")]
    missing = [c for c in COLUMNS if c not in header]
    extra = [c for c in header if c not in COLUMNS]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if missing or extra or repeated:
        reasons = []
        if repeated:
            reasons.append("repeated columns: " + ", ".join(repeated))
        if missing:
            reasons.append("missing columns: " + ", ".join(missing))
        if extra:
            reasons.append("unknown columns: " + ", ".join(extra))
        return [], [FieldProblem("line 1", "; ".join(reasons))]
    rows: list[Row] = []
    try:
        for number, raw in enumerate(reader, start=2):
            if not any(cell.strip() for cell in raw):
                continue  # a blank line
            if len(raw) != len(header):
                problems.append(FieldProblem(f"line {number}", f"has {len(raw)} fields, the header has {len(header)}"))
                continue
            cells = {name: value.strip() for name, value in zip(header, raw, strict=True)}
            row_problems = [f"{name} is required" for name in REQUIRED if not cells[name]]
            row_problems += [
                f"{name} is longer than {limit} characters"
                for name, limit in MAX_LENGTHS.items()
                if len(cells[name]) > limit
            ]
            if any("\x00" in value for value in cells.values()):
                row_problems.append("contains a NUL character")
            for name in ("source_system", "target_system"):
                if cells[name] and cells[name] not in known_systems:
                    row_problems.append(f"unknown code system {cells[name]!r} ({name})")
            equivalence = cells["equivalence"] or ConceptMapEntry.Equivalence.EQUIVALENT.value
            if equivalence not in EQUIVALENCES:
                row_problems.append(f"unknown equivalence {equivalence!r}")
            valid_from: date | None = DEFAULT_VALID_FROM
            valid_to: date | None = None
            try:
                valid_from = _date(cells["valid_from"]) if cells["valid_from"] else DEFAULT_VALID_FROM
            except ValueError:
                row_problems.append(f"valid_from {cells['valid_from']!r} is not a date (YYYY-MM-DD)")
                valid_from = None
            try:
                valid_to = _date(cells["valid_to"]) if cells["valid_to"] else None
            except ValueError:
                row_problems.append(f"valid_to {cells['valid_to']!r} is not a date (YYYY-MM-DD)")
            if valid_from is not None and valid_to is not None and valid_to <= valid_from:
                row_problems.append(f"valid_to {valid_to} is not after valid_from {valid_from}")
            if row_problems:
                problems.append(FieldProblem(f"line {number}", "; ".join(row_problems)))
                continue
            assert valid_from is not None
            rows.append(
                Row(
                    line=number,
                    source_system=cells["source_system"],
                    source_code=cells["source_code"],
                    source_display=cells["source_display"],
                    target_system=cells["target_system"],
                    target_code=cells["target_code"],
                    target_display=cells["target_display"],
                    equivalence=equivalence,
                    valid_from=valid_from,
                    valid_to=valid_to,
                    comment=cells["comment"],
                )
            )
    except csv.Error as exc:
        problems.append(FieldProblem(f"line {reader.line_num}", f"is not valid CSV: {exc}"))
    problems += overlaps(rows)
    return rows, problems


def overlaps(rows: list[Row]) -> list[FieldProblem]:
    """Rows whose validity overlaps another row's for the same source code and target system."""
    problems = []
    by_key: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        by_key.setdefault((row.source_system, row.source_code, row.target_system), []).append(row)
    for group in by_key.values():
        ordered = sorted(group, key=lambda r: r.valid_from)
        for earlier, later in pairwise(ordered):
            if earlier.valid_to is None or later.valid_from < earlier.valid_to:
                problems.append(
                    FieldProblem(
                        f"line {later.line}",
                        f"validity overlaps line {earlier.line} for {later.source_system}|{later.source_code} "
                        f"→ {later.target_system}",
                    )
                )
    return problems
