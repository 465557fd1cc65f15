"""``GET /fhir/metadata``: the CapabilityStatement, built from the registry
(http://hl7.org/fhir/R4/capabilitystatement.html), so it lists exactly what is served."""

from __future__ import annotations

from typing import Any

from interop.fhir import registry
from interop.fhir.search import CONTROL, REFUSED

SPEC = "http://hl7.org/fhir"


def capability_statement(base: str, software_date: str) -> dict[str, Any]:
    resources = []
    types = list(registry.all_types())
    for t in types:
        interactions = [{"code": "read"}, {"code": "search-type"}]
        if t.versioned:
            interactions.append({"code": "vread"})
        if t.history is not None:
            interactions.append({"code": "history-instance"})
        elif t.versioned:
            interactions.append(
                {"code": "history-instance", "documentation": "The current version only: earlier ones are not kept."}
            )
        entry: dict[str, Any] = {
            "type": t.name,
            "profile": f"{SPEC}/StructureDefinition/{t.name}",
            "documentation": f"{t.doc} Sorts (_sort, - for descending): {', '.join(sorted(t.sorts))}.",
            "interaction": interactions,
            "versioning": "versioned" if t.versioned else "no-version",
            "readHistory": t.history is not None,
            "updateCreate": False,
            "conditionalCreate": False,
            "conditionalRead": "not-supported",
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "searchInclude": sorted(f"{t.name}:{p}" for p in t.includes),
            "searchRevInclude": sorted(
                f"{s.name}:{p}" for s in types for p, inc in s.includes.items() if inc.target == t.name
            ),
            "searchParam": [
                {
                    "name": p.name,
                    **(
                        {"definition": f"{SPEC}/SearchParameter/Resource-{p.name[1:]}"}
                        if p.name.startswith("_")
                        else {}
                    ),
                    "type": p.type,
                    "documentation": p.doc,
                }
                for p in t.params.values()
            ],
        }
        if t.name in ("Patient", "Encounter"):
            entry["operation"] = [
                {"name": "everything", "definition": f"{SPEC}/OperationDefinition/{t.name}-everything"}
            ]
        if not entry["searchInclude"]:
            del entry["searchInclude"]
        if not entry["searchRevInclude"]:
            del entry["searchRevInclude"]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": software_date,
        "publisher": "Clinic platform",
        "kind": "instance",
        "software": {"name": "clinic-platform FHIR read API"},
        "implementation": {"description": "Read-only FHIR R4 projection of the clinic record", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Read-only: every write answers 405. Search parameters besides these are ignored "
                    "(400 with Prefer: handling=strict). Paging is keyset: follow the next link. "
                    f"Control parameters: {', '.join(sorted(CONTROL - {'_pretty'}))}. Every search parameter takes "
                    ":missing=true|false. Refused with 400 (ignoring them would answer every row): "
                    f"{', '.join(sorted(REFUSED))}, chained parameters and _has."
                ),
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": (
                        "Bearer token of an API client; SMART system scopes: system/<Type>.read or system/*.read."
                    ),
                },
                "resource": resources,
            }
        ],
    }
