"""Reader of the HL7 v2-to-FHIR IG concept map sheets (see SOURCES.md next to this file).

Pure Python, no Django: the migration that loads the built-in content imports it.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

CONTENT = Path(__file__).resolve().parent
V2 = "http://terminology.hl7.org/CodeSystem/v2-{}"

# table number → (file, map name, title)
BUILTIN_MAPS = {
    "0078": ("v2tofhir_ConceptMap_0078_InterpretationCodes.csv", "v2-0078", "HL7 v2 0078 interpretation → FHIR"),
    "0085": ("v2tofhir_ConceptMap_0085_ObservationResultStatus.csv", "v2-0085", "HL7 v2 0085 OBX-11 → FHIR"),
    "0123": ("v2tofhir_ConceptMap_0123_ResultStatus.csv", "v2-0123", "HL7 v2 0123 OBR-25 → FHIR"),
    "0203": ("v2tofhir_ConceptMap_0203_IdentifierType.csv", "v2-0203", "HL7 v2 0203 identifier type → FHIR"),
}
BUILTIN_VERSION = "v2-to-fhir-8c9b414"

# Global code systems every installation knows.
BUILTIN_SYSTEMS = [
    ("http://loinc.org", "LOINC", "LN"),
    ("http://snomed.info/sct", "SNOMED CT", "SCT"),
    ("http://unitsofmeasure.org", "UCUM", "UCUM"),
    ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "ObservationInterpretation", ""),
    ("http://hl7.org/fhir/observation-status", "ObservationStatus", ""),
    ("http://hl7.org/fhir/diagnostic-report-status", "DiagnosticReportStatus", ""),
] + [(V2.format(table), f"HL7 v2 table {table}", f"HL7{table}") for table in BUILTIN_MAPS]


@dataclass(frozen=True, slots=True)
class SheetRow:
    code: str
    text: str
    target_code: str
    target_display: str
    target_system: str


def read(table: str) -> tuple[list[SheetRow], str]:
    """The rows of a built-in sheet that have a FHIR target, and the file's SHA-256."""
    filename = BUILTIN_MAPS[table][0]
    data = (CONTENT / filename).read_bytes()
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    rows = []
    for number, cells in enumerate(reader, start=1):
        if number <= 2 or len(cells) < 10:
            continue  # two header rows
        code, text, target_code, display, system = (
            cells[0].strip(),
            cells[1].strip(),
            cells[6].strip(),
            cells[8].strip(),
            cells[9].strip(),
        )
        if code and target_code and system:
            rows.append(SheetRow(code, text, target_code, display, system))
    return rows, hashlib.sha256(data).hexdigest()


def concepts(table: str) -> list[tuple[str, str]]:
    """(code, text) of every v2 code in the sheet, mapped or not."""
    data = (CONTENT / BUILTIN_MAPS[table][0]).read_bytes()
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    found: dict[str, str] = {}
    for number, cells in enumerate(reader, start=1):
        if number > 2 and cells and cells[0].strip():
            found.setdefault(cells[0].strip(), cells[1].strip() if len(cells) > 1 else "")
    return sorted(found.items())
