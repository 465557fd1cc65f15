"""ConceptMap (http://hl7.org/fhir/R4/conceptmap.html): each published version of a map."""

from __future__ import annotations

from typing import Any

from interop.fhir import params
from interop.fhir.registry import Ctx, ResourceType, Row, Source, register
from interop.fhir.resources.common import rows_by
from interop.fhir.values import compact, fhir_date, instant
from terminology import facade as terminology

MAPS = Source(terminology.read_rows, terminology.count_rows, "concept_map")
ENTRIES = Source(terminology.read_rows, terminology.count_rows, "concept_map_entry")


def _validity(entry: Row) -> str:
    until = f" until {fhir_date(entry['valid_to'])} (exclusive)" if entry["valid_to"] else ""
    return f"Valid from {fhir_date(entry['valid_from'])}{until}."


def to_fhir(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    entries: dict[Any, list[Row]] = {}
    for e in rows_by(ENTRIES, ctx, "map_version", [r["id"] for r in rows]):
        entries.setdefault(e["map_version"], []).append(e)
    out = []
    for row in rows:
        groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for e in sorted(
            entries.get(row["id"], []), key=lambda e: (e["source_system"], e["source_code"], e["valid_from"])
        ):
            elements = groups.setdefault((e["source_system"], e["target_system"]), {})
            element = elements.setdefault(
                e["source_code"], compact({"code": e["source_code"], "display": e["source_display"], "target": []})
            )
            element.setdefault("target", []).append(
                compact(
                    {
                        "code": e["target_code"] if e["equivalence"] != "unmatched" else None,
                        "display": e["target_display"],
                        "equivalence": e["equivalence"],
                        "comment": " ".join(x for x in (e["comment"], _validity(e)) if x),
                    }
                )
            )
        out.append(
            compact(
                {
                    "resourceType": "ConceptMap",
                    "id": str(row["id"]),
                    "meta": {"versionId": "1", "lastUpdated": instant(row["published_at"])},
                    "url": row["url"],
                    "version": row["version"],
                    "name": row["name"].replace("-", "_"),
                    "title": row["title"],
                    "status": "active",
                    "date": instant(row["published_at"]),
                    "group": [
                        {"source": source, "target": target, "element": list(elements.values())}
                        for (source, target), elements in sorted(groups.items())
                    ],
                }
            )
        )
    return out


register(
    ResourceType(
        name="ConceptMap",
        source=MAPS,
        to_fhir=to_fhir,
        doc="A published version of a code map (lab codes to LOINC, catalogue to fees, HL7 tables); "
        "a published version never changes.",
        params={
            **params.common("published_at", int),
            "url": params.uri("url", "url", "Canonical URL of the map"),
            "version": params.token("version", "version", "The version label"),
            # Served as a computable name (v2_0078), stored as a slug (v2-0078): either finds it.
            "name": params.string("name", ("name",), "Name of the map", normalise=lambda v: v.replace("_", "-")),
        },
        sorts={"_lastUpdated": "published_at"},
        updated_field="published_at",
        id_type=int,
    )
)
