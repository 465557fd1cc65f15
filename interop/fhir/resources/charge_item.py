"""ChargeItem (http://hl7.org/fhir/R4/chargeitem.html): what an encounter billed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from billing import facade as billing
from interop.fhir import params
from interop.fhir.registry import Ctx, Include, ResourceType, Row, Source, register
from interop.fhir.resources.common import meta, ref
from interop.fhir.values import coding, compact, decimal, instant

CHARGES = Source(billing.read_rows, billing.count_rows, "charge_item")
# billed → billed; a reversed charge (its order was cancelled) → aborted.
STATUS = {"billed": "billed", "reversed": "aborted"}


def to_fhir(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        coded = row["coded"] or {}
        fee = coding({**(coded.get("fee") or {}), "display": row["display"]}) or {"code": row["code"]}
        catalogue = coding(coded.get("catalogue"))
        out.append(
            compact(
                {
                    "resourceType": "ChargeItem",
                    "id": str(row["id"]),
                    "meta": meta(row),
                    "status": STATUS.get(row["status"], "unknown"),
                    "code": compact({"coding": [c for c in (fee, catalogue) if c], "text": row["display"]}),
                    "subject": ref("Patient", row["patient"]),
                    "context": ref("Encounter", row["encounter"]),
                    "occurrenceDateTime": instant(row["occurred_at"]),
                    "quantity": {"value": row["quantity"]},
                    "priceOverride": {"value": decimal(row["unit_price"]), "currency": row["currency"]},
                    "enteredDate": instant(row["created_at"]),
                }
            )
        )
    return out


register(
    ResourceType(
        name="ChargeItem",
        source=CHARGES,
        to_fhir=to_fhir,
        doc="A charge of an encounter (a lab order's fee); a cancelled order's charge is aborted.",
        params={
            **params.common("updated_at", UUID),
            "patient": params.reference("patient", "patient", "Patient", "The patient charged"),
            "subject": params.reference("subject", "patient", "Patient", "The patient charged"),
            "encounter": params.reference("encounter", "encounter", "Encounter", "The encounter"),
            "context": params.reference("context", "encounter", "Encounter", "The encounter"),
            "occurrence": params.date_param("occurrence", "occurred_at", "When it was charged"),
        },
        sorts={
            "occurrence": "occurred_at",
            "_lastUpdated": "updated_at",
            "patient": "patient",
            "subject": "patient",
            "encounter": "encounter",
            "context": "encounter",
        },
        includes={
            "patient": Include("patient", "Patient", from_field="patient"),
            "context": Include("context", "Encounter", from_field="encounter"),
        },
        patient_field="patient",
        encounter_field="encounter",
    )
)
