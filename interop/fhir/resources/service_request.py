"""ServiceRequest (http://hl7.org/fhir/R4/servicerequest.html): a lab order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from interop.fhir import params
from interop.fhir.registry import Ctx, Include, ResourceType, Row, Source, register
from interop.fhir.resources.common import meta, ref, system
from interop.fhir.values import compact, concept, instant
from orders import facade as orders

ORDERS = Source(orders.read_rows, orders.count_rows, "service_request")
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def to_fhir(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        identifiers = [
            {
                "type": {"coding": [{"system": V2_0203, "code": "PLAC", "display": "Placer Identifier"}]},
                "system": system(ctx, "placer-number"),
                "value": row["placer_number"],
            }
        ]
        if row["filler_number"]:
            identifiers.append(
                {
                    "type": {"coding": [{"system": V2_0203, "code": "FILL", "display": "Filler Identifier"}]},
                    "system": system(ctx, "filler-number"),
                    "value": row["filler_number"],
                }
            )
        out.append(
            compact(
                {
                    "resourceType": "ServiceRequest",
                    "id": str(row["id"]),
                    "meta": meta(row, version=row["version"]),
                    "identifier": identifiers,
                    "status": row["status"],
                    "intent": "order",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://snomed.info/sct",
                                    "code": "108252007",
                                    "display": "Laboratory procedure",
                                }
                            ]
                        }
                    ],
                    "priority": row["priority"],
                    "code": concept(row["coded"], row["display"]),
                    "subject": ref("Patient", row["patient"]),
                    "encounter": ref("Encounter", row["encounter"]),
                    "authoredOn": instant(row["ordered_at"]),
                    "requester": {"display": row["requester"]} if row["requester"] else None,
                    "note": [{"text": row["specimen_note"]}] if row["specimen_note"] else [],
                }
            )
        )
    return out


register(
    ResourceType(
        name="ServiceRequest",
        source=ORDERS,
        to_fhir=to_fhir,
        doc="A lab order placed in an encounter.",
        params={
            **params.common("updated_at", UUID),
            "patient": params.reference("patient", "patient", "Patient", "The patient the test is for"),
            "subject": params.reference("subject", "patient", "Patient", "The patient the test is for"),
            "encounter": params.reference("encounter", "encounter", "Encounter", "The encounter it was ordered in"),
            "code": params.coded("code", "The test: catalogue code or its LOINC (system|code)"),
            "status": params.token(
                "status", "status", "active | revoked | completed", system="http://hl7.org/fhir/request-status"
            ),
            "identifier": params.identifier(
                "identifier",
                lambda ctx: {
                    system(ctx, "placer-number"): "placer_number",
                    system(ctx, "filler-number"): "filler_number",
                },
                "Placer (our) or filler (the lab's) order number",
            ),
            "authored": params.date_param("authored", "ordered_at", "When it was ordered"),
        },
        sorts={
            "authored": "ordered_at",
            "_lastUpdated": "updated_at",
            "patient": "patient",
            "subject": "patient",
            "encounter": "encounter",
        },
        includes={
            "patient": Include("patient", "Patient", from_field="patient"),
            "subject": Include("subject", "Patient", from_field="patient"),
            "encounter": Include("encounter", "Encounter", from_field="encounter"),
        },
        versioned=True,
        patient_field="patient",
        encounter_field="encounter",
    )
)
