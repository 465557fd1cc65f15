"""Observation (http://hl7.org/fhir/R4/observation.html) and DiagnosticReport
(http://hl7.org/fhir/R4/diagnosticreport.html): lab results, with every version kept."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from clinic.rows import AllOf, AnyOf, RowQuery, Where
from interop.fhir import params
from interop.fhir.errors import BadRequest
from interop.fhir.registry import NOTHING, Ctx, Include, ResourceType, Row, Source, Term, register
from interop.fhir.resources.common import meta, ref, rows_by, system
from interop.fhir.values import compact, concept, decimal, instant
from results import facade as results

OBSERVATIONS = Source(results.read_rows, results.count_rows, "observation")
REPORTS = Source(results.read_rows, results.count_rows, "diagnostic_report")
REVISIONS = Source(results.read_rows, results.count_rows, "result_revision")

UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LABORATORY = {"coding": [{"system": CATEGORY, "code": "laboratory", "display": "Laboratory"}]}
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
LAB_SECTION = {"coding": [{"system": V2_0074, "code": "LAB", "display": "Laboratory"}]}


def _quantity(value: Any, row: Row) -> dict[str, Any]:
    return compact(
        {
            "value": decimal(value),
            "unit": row["unit"] or row["unit_ucum"],
            "system": UCUM if row["unit_ucum"] else None,
            "code": row["unit_ucum"],
        }
    )


QUANTITY_COMPARATORS = ("<", "<=", ">", ">=")  # http://hl7.org/fhir/R4/valueset-quantity-comparator.html


def _sn_text(row: Row) -> str:
    """A structured numeric (HL7 v2 SN) as it reads: ``<>5``, ``2+``, ``>1:128``."""
    high = decimal(row["value_high"])
    parts = [row["value_comparator"], str(decimal(row["value_quantity"])), row["value_separator"]]
    return "".join(parts) + ("" if high is None else str(high))


def _value(row: Row) -> dict[str, Any]:
    """value[x] from the OBX-2 value type and what the value columns hold. An SN FHIR cannot
    say exactly (``<>``, a ``+`` suffix, a range with a comparator) is given as its text rather
    than as a number that would drop part of its meaning."""
    if row["value_quantity"] is not None:
        separator, comparator = row["value_separator"], row["value_comparator"]
        if comparator not in ("", "=", *QUANTITY_COMPARATORS) or separator not in ("", "-", ":", "/"):
            return {"valueString": _sn_text(row)}
        if row["value_high"] is not None and separator == "-":
            if comparator not in ("", "="):  # Range bounds are SimpleQuantity: no comparator
                return {"valueString": _sn_text(row)}
            return {
                "valueRange": {"low": _quantity(row["value_quantity"], row), "high": _quantity(row["value_high"], row)}
            }
        if row["value_high"] is not None and separator in (":", "/"):
            numerator = compact(
                {
                    "value": decimal(row["value_quantity"]),
                    "comparator": comparator if comparator in QUANTITY_COMPARATORS else None,
                }
            )
            return {"valueRatio": {"numerator": numerator, "denominator": {"value": decimal(row["value_high"])}}}
        if separator:  # a separator without its second number
            return {"valueString": _sn_text(row)}
        quantity = _quantity(row["value_quantity"], row)
        if comparator in QUANTITY_COMPARATORS:
            quantity = {
                "value": quantity["value"],
                "comparator": comparator,
                **{k: v for k, v in quantity.items() if k != "value"},
            }
        return {"valueQuantity": quantity}
    if row["value_coded"]:
        coded = row["value_coded"]
        coding = compact({"system": coded.get("system"), "code": coded.get("code"), "display": coded.get("display")})
        return {
            "valueCodeableConcept": compact(
                {"coding": [coding] if coding.get("code") else [], "text": coded.get("display")}
            )
        }
    if row["value_string"]:
        return {"valueString": row["value_string"]}
    return {}


PERFORMER_ID = "performer"


def _performer(performer: dict[str, Any] | None) -> dict[str, Any]:
    """The laboratory that performed the test (OBX-23/24), as an Organization contained in the
    Observation (it has no identity of ours to be a resource of its own): ``performer`` refers
    to it. The identifier's system is its assigning authority's OID (XON-6.2) as a URN."""
    if not performer or not performer.get("name"):
        return {}
    oid = performer.get("authority_oid")
    identifier = compact({"system": f"urn:oid:{oid}" if oid else None, "value": performer.get("identifier")})
    organization = compact(
        {
            "resourceType": "Organization",
            "id": PERFORMER_ID,
            "identifier": [identifier] if identifier.get("value") else [],
            "name": performer["name"],
            "address": [{"text": performer["address"]}] if performer.get("address") else [],
        }
    )
    return {
        "contained": [organization],
        "performer": [{"reference": f"#{PERFORMER_ID}", "display": performer["name"]}],
    }


def observation(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": str(row["id"]),
            "meta": meta(row, version=row["version"]),
            "basedOn": [ref("ServiceRequest", row["order"])] if row.get("order") else [],
            "status": row["status"],
            "category": [LABORATORY],
            "code": concept(row["coded"]),
            "subject": ref("Patient", row["patient"]),
            "encounter": ref("Encounter", row["encounter"]),
            "effectiveDateTime": instant(row["effective_at"]),
            "issued": instant(row["issued_at"]),
            **_value(row),
            "interpretation": [{"coding": [c]} for c in row["interpretation"] or [] if c.get("code")],
            "note": [{"text": c} for c in row["comments"] or [] if c],
            "specimen": ref("Specimen", row["report"]) if row.get("report_specimen") else None,
            "referenceRange": [{"text": row["reference_range"]}] if row["reference_range"] else [],
            **_performer(row.get("performer")),
        }
        if not any(k.startswith("value") for k in resource):
            # obs-6: no value says why (http://hl7.org/fhir/R4/observation.html#invs)
            resource["dataAbsentReason"] = {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "unknown"}]
            }
        out.append(compact(resource))
    return out


def diagnostic_report(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    members: dict[Any, list[Any]] = {}
    for o in rows_by(OBSERVATIONS, ctx, "report", [r["id"] for r in rows], fields=("id", "report", "set_id")):
        members.setdefault(o["report"], []).append(o)
    out = []
    for row in rows:
        key = row["id"] if isinstance(row["id"], UUID) else UUID(str(row["id"]))
        identifiers = []
        if row["accession"]:
            identifiers.append(
                {"system": system(ctx, f"accession/{row['sending_facility']}"), "value": row["accession"]}
            )
        if row["filler_number"]:
            identifiers.append({"system": system(ctx, "filler-number"), "value": row["filler_number"]})
        observations = sorted(members.get(key, []), key=lambda o: (len(o["set_id"]), o["set_id"], str(o["id"])))
        out.append(
            compact(
                {
                    "resourceType": "DiagnosticReport",
                    "id": str(row["id"]),
                    "meta": meta(row, version=row["version"]),
                    "identifier": identifiers,
                    "basedOn": [ref("ServiceRequest", row["order"])] if row["order"] else [],
                    "status": row["status"],
                    "category": [LAB_SECTION],
                    "code": concept(row["coded"]),
                    "subject": ref("Patient", row["patient"]),
                    "encounter": ref("Encounter", row["encounter"]),
                    "effectiveDateTime": instant(row["effective_at"]),
                    "issued": instant(row["issued_at"]),
                    "performer": [{"display": row["sending_facility"]}] if row["sending_facility"] else [],
                    "specimen": [ref("Specimen", row["id"])] if row["specimen"] else [],
                    "result": [ref("Observation", o["id"]) for o in observations],
                    "conclusion": "\n".join(c for c in row["comments"] or [] if c),
                }
            )
        )
    return out


def _history(kind: str, project: Any) -> Any:
    def history(ctx: Ctx, row: Row) -> list[dict[str, Any]]:
        """Every applied version, oldest first (results' superseded revisions, then the row).
        A version's lastUpdated is when it was charted: when the one before it was replaced."""
        kept = REVISIONS.rows(
            RowQuery(
                tenant_id=ctx.tenant_id,
                where=(Where("object_id", "eq", row["id"]), Where("kind", "eq", kind)),
                order=("version", "id"),
            )
        )
        versions = []
        made_at = row["created_at"]
        for revision in kept:
            content = revision["content"]
            snapshot = {**row, **{k: v for k, v in content.items() if k in row}}
            for fk in ("encounter", "order", "report"):
                if f"{fk}_id" in content:
                    snapshot[fk] = content[f"{fk}_id"]
            snapshot["version"] = revision["version"]
            snapshot["updated_at"] = made_at
            versions.append(project(ctx, [snapshot])[0])
            made_at = revision["recorded_at"]
        versions.append(project(ctx, [row])[0])
        return versions

    return history


def every_row_is(system_uri: str, code: str) -> Any:
    """A category every row of the type has (every result charted here is a laboratory one):
    that code matches all rows, any other matches none."""

    def build(ctx: Ctx, modifier: str, value: str) -> Term:
        given_system, given_code = params.split_token(value)
        if given_code == code and given_system in (None, system_uri):
            return Where("id", "isnull", False)
        return NOTHING

    return build


def by_identifier(ctx: Ctx, modifier: str, value: str) -> Term:
    """The identifiers a report is served with: ``<base>/accession/<lab>|value`` (an accession
    is unique per sending lab) and ``<base>/filler-number|value``; a bare value is either."""
    given_system, code = params.split_token(value)
    if not code:
        raise BadRequest("Search parameter 'identifier' needs a value.", expression=["identifier"])
    accession = system(ctx, "accession/")
    if given_system is None:
        return AnyOf((Where("accession", "eq", code), Where("filler_number", "eq", code)))
    if given_system.startswith(accession) and len(given_system) > len(accession):
        return AllOf((Where("accession", "eq", code), Where("sending_facility", "eq", given_system[len(accession) :])))
    if given_system == system(ctx, "filler-number"):
        return Where("filler_number", "eq", code)
    return NOTHING


def by_result(ctx: Ctx, modifier: str, value: str) -> Term:
    _, resource_id = params.reference_id("result", value, ("Observation",))
    try:
        observation_id = UUID(resource_id)
    except ValueError:
        return NOTHING
    found = OBSERVATIONS.rows(
        RowQuery(tenant_id=ctx.tenant_id, where=(Where("id", "eq", observation_id),), fields=("report",), limit=1)
    )
    return Where("id", "eq", found[0]["report"]) if found else NOTHING


STATUS = "http://hl7.org/fhir/observation-status"
REPORT_STATUS = "http://hl7.org/fhir/diagnostic-report-status"

register(
    ResourceType(
        name="Observation",
        source=OBSERVATIONS,
        to_fhir=observation,
        doc="One lab result (an OBX). Preliminary, final and corrected versions are kept (vread, _history).",
        params={
            **params.common("updated_at", UUID),
            "patient": params.reference("patient", "patient", "Patient", "The patient"),
            "subject": params.reference("subject", "patient", "Patient", "The patient"),
            "encounter": params.reference("encounter", "encounter", "Encounter", "The encounter it belongs to"),
            "code": params.coded("code", "The test (LOINC, or the lab's own code): system|code", loinc_field="loinc"),
            "category": params.custom(
                "category", "token", "laboratory", every_row_is(CATEGORY, "laboratory"), missing=params.always_present
            ),
            "date": params.date_param("date", "effective_at", "When the specimen was taken / the result observed"),
            "status": params.token(
                "status",
                "status",
                "registered | preliminary | final | amended | corrected | cancelled | entered-in-error",
                system=STATUS,
            ),
            "based-on": params.reference("based-on", "order", "ServiceRequest", "The order"),
        },
        # Each sort has an index that starts with it (after the tenant): date, code (LOINC),
        # patient, encounter, _lastUpdated.
        sorts={
            "date": "effective_at",
            "_lastUpdated": "updated_at",
            "code": "loinc",
            "patient": "patient",
            "subject": "patient",
            "encounter": "encounter",
        },
        includes={
            "patient": Include("patient", "Patient", from_field="patient"),
            "subject": Include("subject", "Patient", from_field="patient"),
            "encounter": Include("encounter", "Encounter", from_field="encounter"),
            "based-on": Include("based-on", "ServiceRequest", from_field="order"),
            "specimen": Include("specimen", "Specimen", from_field="report"),
        },
        versioned=True,
        history=_history("observation", observation),
        patient_field="patient",
        encounter_field="encounter",
    )
)
register(
    ResourceType(
        name="DiagnosticReport",
        source=REPORTS,
        to_fhir=diagnostic_report,
        doc="A lab report (an OBR) and its results. Every version is kept (vread, _history).",
        params={
            **params.common("updated_at", UUID),
            "patient": params.reference("patient", "patient", "Patient", "The patient"),
            "subject": params.reference("subject", "patient", "Patient", "The patient"),
            "encounter": params.reference("encounter", "encounter", "Encounter", "The encounter it belongs to"),
            "code": params.coded("code", "The panel or test: system|code"),
            "category": params.custom(
                "category", "token", "LAB", every_row_is(V2_0074, "LAB"), missing=params.always_present
            ),
            "date": params.date_param("date", "effective_at", "When the specimen was taken"),
            "status": params.token(
                "status",
                "status",
                "registered | partial | preliminary | final | corrected | cancelled | entered-in-error",
                system=REPORT_STATUS,
            ),
            "based-on": params.reference("based-on", "order", "ServiceRequest", "The order"),
            "result": params.custom(
                "result",
                "reference",
                "One of its results",
                by_result,
                targets=("Observation",),
                missing=params.missing_when("result_id", blank=False),
            ),
            "identifier": params.custom(
                "identifier",
                "token",
                "The lab's accession (per lab) or filler number: system|value",
                by_identifier,
                missing=params.missing_when("accession", "filler_number"),
            ),
        },
        sorts={
            "date": "effective_at",
            "_lastUpdated": "updated_at",
            "patient": "patient",
            "subject": "patient",
            "encounter": "encounter",
        },
        includes={
            "patient": Include("patient", "Patient", from_field="patient"),
            "subject": Include("subject", "Patient", from_field="patient"),
            "encounter": Include("encounter", "Encounter", from_field="encounter"),
            "based-on": Include("based-on", "ServiceRequest", from_field="order"),
            "result": Include("result", "Observation", reverse_field="report"),
            "specimen": Include("specimen", "Specimen", from_field="id"),
        },
        versioned=True,
        history=_history("report", diagnostic_report),
        patient_field="patient",
        encounter_field="encounter",
    )
)
