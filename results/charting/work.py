"""The work of charting one report: its input, where it goes, its row, and what happened to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from results.charting.resolution import Target
from results.contracts import ObservationInput, ReportInput
from results.models import DiagnosticReport


@dataclass(slots=True)
class ReportWork:
    input: ReportInput
    target: Target
    row: DiagnosticReport  # to insert; once found charted before, the charted row (locked)
    new: bool = True
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    corrected: bool = False
    report_changed: bool = False
    incoming: DiagnosticReport | None = None  # the received version of a report charted before
    renumbered: bool = False  # charted before without a placer number, which this one brings
    changed: bool = False
    observation_ids: list[UUID] = field(default_factory=list)
    observations: list[Any] = field(default_factory=list)  # Observation rows (or rows just inserted)


# One OBX of a report: its work, the OBX as received, and the row it becomes (a
# ``clinic.db.new_row``, compared with the charted row when its business key exists).
ReceivedObservation = tuple[ReportWork, ObservationInput, Any]
