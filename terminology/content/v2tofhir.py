"""Reader of the HL7 v2-to-FHIR IG concept map sheets (see SOURCES.md next to this file).

No Django imports: migration 0002 loads the built-in content with its historical models and
``terminology.services.ensure_builtin_content`` with the live ones, through ``load``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

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
BUILTIN_VALID_FROM = date(1900, 1, 1)  # the maps apply to every date

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


def load(get_model: Callable[[str], Any], *, published_at: datetime | None) -> list[int]:
    """Create what is missing of the built-in code systems, concepts and maps (idempotent).

    ``get_model(name)`` returns a terminology model class (historical in a migration). New map
    versions get ``published_at``; returns their ids. History depends on this function (a
    migration calls it): change it only in ways that leave existing databases as they were.
    """
    CodeSystem, Concept = get_model("CodeSystem"), get_model("Concept")
    ConceptMap, ConceptMapVersion, ConceptMapEntry = (
        get_model("ConceptMap"),
        get_model("ConceptMapVersion"),
        get_model("ConceptMapEntry"),
    )
    systems = {
        uri: CodeSystem.objects.get_or_create(tenant=None, uri=uri, defaults={"name": name, "v2_identifier": v2_id})[0]
        for uri, name, v2_id in BUILTIN_SYSTEMS
    }
    created_versions = []
    for table, (_filename, name, title) in BUILTIN_MAPS.items():
        source = V2.format(table)
        Concept.objects.bulk_create(
            [Concept(code_system=systems[source], code=code, display=text[:500]) for code, text in concepts(table)],
            ignore_conflicts=True,
        )
        rows, digest = read(table)
        concept_map, _ = ConceptMap.objects.get_or_create(
            tenant=None, name=name, defaults={"url": f"urn:clinic:conceptmap:{name}", "title": title}
        )
        version, created = ConceptMapVersion.objects.get_or_create(
            concept_map=concept_map,
            label=BUILTIN_VERSION,
            defaults={"source_sha256": digest, "published_at": published_at},
        )
        if not created:
            continue
        ConceptMapEntry.objects.bulk_create(
            [
                ConceptMapEntry(
                    version=version,
                    source_system=source,
                    source_code=row.code,
                    source_display=row.text[:500],
                    target_system=row.target_system,
                    target_code=row.target_code,
                    target_display=row.target_display[:500],
                    equivalence="equivalent",
                    valid_from=BUILTIN_VALID_FROM,
                )
                for row in rows
            ]
        )
        created_versions.append(version.pk)
    return created_versions
