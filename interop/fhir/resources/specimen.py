"""Specimen (http://hl7.org/fhir/R4/specimen.html): the specimen a lab report was made on (SPM:
its identifier, type, collection and receipt times), one per report, under the report's ID."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from clinic.rows import AllOf, Where
from interop.fhir import params
from interop.fhir.errors import BadRequest
from interop.fhir.registry import NOTHING, Ctx, Include, ResourceType, Row, Source, Term, register
from interop.fhir.resources.common import meta, ref, system
from interop.fhir.values import coding, compact, instant
from results import facade as results

SPECIMENS = Source(results.read_rows, results.count_rows, "specimen")


def to_fhir(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        spec = row["specimen"] or {}
        lab = row["sending_facility"]
        kind = coding(spec.get("type"))
        out.append(
            compact(
                {
                    "resourceType": "Specimen",
                    "id": str(row["id"]),
                    "meta": meta(row),
                    "identifier": [{"system": system(ctx, f"specimen/{lab}"), "value": spec["id"]}]
                    if spec.get("id")
                    else [],
                    "accessionIdentifier": {"system": system(ctx, f"accession/{lab}"), "value": row["accession"]}
                    if row["accession"]
                    else None,
                    "type": compact({"coding": [kind], "text": kind.get("display")}) if kind else None,
                    "subject": ref("Patient", row["patient"]),
                    "receivedTime": instant(spec.get("received_at")),
                    "request": [ref("ServiceRequest", row["order"])] if row["order"] else [],
                    "collection": compact({"collectedDateTime": instant(spec.get("collected_at"))}),
                }
            )
        )
    return out


def by_type(ctx: Ctx, modifier: str, value: str) -> Term:
    """The specimen type as the lab coded it (SPM-4): ``system|code``, ``code`` or ``|code``."""
    given_system, code = params.split_token(value)
    if not code:
        raise BadRequest("Search parameter 'type' needs a code.", expression=["type"])
    if given_system == "":
        return NOTHING  # every type charted here has a system (or none given: then ``code`` finds it)
    terms = [Where("type_code", "eq", code)]
    if given_system:
        terms.append(Where("type_system", "eq", given_system))
    return AllOf(tuple(terms))


register(
    ResourceType(
        name="Specimen",
        source=SPECIMENS,
        to_fhir=to_fhir,
        doc="The specimen of a lab report (SPM), one per report, under the report's ID.",
        params={
            **params.common("updated_at", UUID),
            "patient": params.reference("patient", "patient", "Patient", "The patient"),
            "subject": params.reference("subject", "patient", "Patient", "The patient"),
            "accession": params.token("accession", "accession", "The lab's accession number"),
            "type": params.custom(
                "type",
                "token",
                "The specimen type (SPM-4): system|code",
                by_type,
                missing=params.missing_when("type_code"),
            ),
        },
        sorts={"_lastUpdated": "updated_at", "patient": "patient", "subject": "patient"},
        includes={
            "patient": Include("patient", "Patient", from_field="patient"),
            "subject": Include("subject", "Patient", from_field="patient"),
        },
        patient_field="patient",
    )
)
