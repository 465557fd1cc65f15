"""Organization (the tenant), Location (its sites) and Practitioner."""

from __future__ import annotations

from typing import Any

from clinic import facade as clinic
from encounters import facade as encounters
from interop.fhir import params
from interop.fhir.registry import Ctx, ResourceType, Row, Source, register
from interop.fhir.resources.common import meta, ref, system
from interop.fhir.values import compact


def organization(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    # http://hl7.org/fhir/R4/organization.html
    return [
        compact(
            {
                "resourceType": "Organization",
                "id": str(row["id"]),
                "meta": meta(row),
                "identifier": [{"system": system(ctx, "organization"), "value": row["slug"]}],
                "active": row["active"],
                "name": row["name"],
            }
        )
        for row in rows
    ]


def location(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    # http://hl7.org/fhir/R4/location.html
    return [
        compact(
            {
                "resourceType": "Location",
                "id": str(row["id"]),
                "meta": meta(row),
                "identifier": [{"system": system(ctx, "site"), "value": row["code"]}],
                "status": "active" if row["active"] else "inactive",
                "name": row["name"],
                "mode": "instance",
                "address": {"text": row["address"]} if row["address"] else None,
                "managingOrganization": ref("Organization", row["tenant"]),
            }
        )
        for row in rows
    ]


def practitioner(ctx: Ctx, rows: list[Row]) -> list[dict[str, Any]]:
    # http://hl7.org/fhir/R4/practitioner.html
    return [
        compact(
            {
                "resourceType": "Practitioner",
                "id": str(row["id"]),
                "meta": meta(row, updated="created_at"),
                "active": row["active"],
                "name": [{"text": row["name"]}],
            }
        )
        for row in rows
    ]


register(
    ResourceType(
        name="Organization",
        source=Source(clinic.read_rows, clinic.count_rows, "tenant"),
        to_fhir=organization,
        doc="The clinic organisation (the tenant the API client belongs to).",
        params={
            **params.common("updated_at", int),
            "name": params.string("name", ("name",), "Name of the organisation"),
            "identifier": params.identifier(
                "identifier", lambda ctx: {system(ctx, "organization"): "slug"}, "The clinic's slug"
            ),
        },
        sorts={"_lastUpdated": "updated_at"},
        id_type=int,
    )
)
register(
    ResourceType(
        name="Location",
        source=Source(clinic.read_rows, clinic.count_rows, "site"),
        to_fhir=location,
        doc="A site of the clinic (where patients are seen).",
        params={
            **params.common("updated_at", int),
            "name": params.string("name", ("name",), "Name of the site"),
            "organization": params.reference("organization", "tenant", "Organization", "The clinic"),
        },
        sorts={"_lastUpdated": "updated_at"},
        id_type=int,
    )
)
register(
    ResourceType(
        name="Practitioner",
        source=Source(encounters.read_rows, encounters.count_rows, "practitioner"),
        to_fhir=practitioner,
        doc="A clinician who holds appointments and encounters.",
        params={
            **params.common("created_at", int),
            "name": params.string("name", ("name",), "Name of the practitioner"),
        },
        sorts={"_lastUpdated": "created_at"},
        updated_field="created_at",
        id_type=int,
    )
)
