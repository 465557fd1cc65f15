"""Encounter (http://hl7.org/fhir/R4/encounter.html) and Appointment
(http://hl7.org/fhir/R4/appointment.html)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from encounters import facade as encounters
from interop.fhir import params
from interop.fhir.registry import Ctx, Include, ResourceType, Row, Source, register
from interop.fhir.resources.common import meta, ref, system
from interop.fhir.values import compact, instant

ENCOUNTERS = Source(encounters.read_rows, encounters.count_rows, "encounter")
APPOINTMENTS = Source(encounters.read_rows, encounters.count_rows, "appointment")

# A clinic visit is ambulatory (http://terminology.hl7.org/CodeSystem/v3-ActCode).
AMBULATORY = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"}


def encounter(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    return [
        compact(
            {
                "resourceType": "Encounter",
                "id": str(row["id"]),
                "meta": meta(row, version=row["version"]),
                "identifier": [
                    {"use": "official", "system": system(ctx, "visit-number"), "value": row["visit_number"]}
                ],
                "status": row["status"],
                "class": AMBULATORY,
                "subject": ref("Patient", row["patient"]),
                "participant": [{"individual": ref("Practitioner", row["practitioner"])}]
                if row["practitioner"]
                else [],
                "appointment": [ref("Appointment", row["appointment"])] if row["appointment"] else [],
                "period": compact({"start": instant(row["period_start"]), "end": instant(row["period_end"])}),
                "location": [{"location": ref("Location", row["site"])}],
                "serviceProvider": ref("Organization", ctx.tenant_id),
            }
        )
        for row in rows
    ]


def appointment(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        cancelled = row["status"] == "cancelled"
        participants = [
            {"actor": ref("Patient", row["patient"]), "status": "declined" if cancelled else "accepted"},
            {"actor": ref("Practitioner", row["practitioner"]), "status": "accepted"},
            {"actor": ref("Location", row["site"]), "status": "accepted"},
        ]
        out.append(
            compact(
                {
                    "resourceType": "Appointment",
                    "id": str(row["id"]),
                    "meta": meta(row),
                    "status": row["status"],
                    "description": row["reason"],
                    "start": instant(row["start_at"]),
                    "end": instant(row["end_at"]),
                    "created": instant(row["created_at"])[:10] if row["created_at"] else None,  # type: ignore[index]
                    "participant": participants,
                }
            )
        )
    return out


register(
    ResourceType(
        name="Encounter",
        source=ENCOUNTERS,
        to_fhir=encounter,
        doc="A visit: from arrival (check-in or walk-in) to its end.",
        params={
            **params.common("updated_at", UUID),
            "patient": params.reference("patient", "patient", "Patient", "The patient seen"),
            "subject": params.reference("subject", "patient", "Patient", "The patient seen"),
            "date": params.date_param("date", "period_start", "When the visit started"),
            "status": params.token(
                "status",
                "status",
                "planned | arrived | in-progress | finished | cancelled",
                system="http://hl7.org/fhir/encounter-status",
            ),
            "identifier": params.identifier(
                "identifier", lambda ctx: {system(ctx, "visit-number"): "visit_number"}, "The visit number"
            ),
            "practitioner": params.reference("practitioner", "practitioner", "Practitioner", "The clinician"),
            "location": params.reference("location", "site", "Location", "The site"),
        },
        sorts={"date": "period_start", "_lastUpdated": "updated_at", "patient": "patient", "subject": "patient"},
        includes={
            "patient": Include("patient", "Patient", from_field="patient"),
            "subject": Include("subject", "Patient", from_field="patient"),
            "practitioner": Include("practitioner", "Practitioner", from_field="practitioner"),
            "location": Include("location", "Location", from_field="site"),
        },
        versioned=True,
        patient_field="patient",
        encounter_field="id",
    )
)
register(
    ResourceType(
        name="Appointment",
        source=APPOINTMENTS,
        to_fhir=appointment,
        doc="A booked slot with a practitioner at a site.",
        params={
            **params.common("updated_at", UUID),
            "patient": params.reference("patient", "patient", "Patient", "The patient booked"),
            "actor": params.reference("actor", "patient", "Patient", "The patient booked"),
            "date": params.date_param("date", "start_at", "When the appointment starts"),
            "status": params.token(
                "status", "status", "booked | checked-in | cancelled", system="http://hl7.org/fhir/appointmentstatus"
            ),
            "practitioner": params.reference("practitioner", "practitioner", "Practitioner", "The clinician"),
        },
        sorts={"date": "start_at", "_lastUpdated": "updated_at", "patient": "patient", "actor": "patient"},
        includes={
            "patient": Include("patient", "Patient", from_field="patient"),
            "actor": Include("actor", "Patient", from_field="patient"),
            "practitioner": Include("practitioner", "Practitioner", from_field="practitioner"),
        },
        patient_field="patient",
    )
)
