"""read, vread and _history of one resource (http://hl7.org/fhir/R4/http.html#read)."""

from __future__ import annotations

from typing import Any

from clinic.rows import RowQuery, Where
from interop.fhir import registry
from interop.fhir.bundle import bundle, link
from interop.fhir.errors import ResourceNotFound
from interop.fhir.registry import Ctx, ResourceType, Row


def resource_type(name: str) -> ResourceType:
    resource = registry.get(name)
    if resource is None:
        raise ResourceNotFound(
            f"Unknown resource type {name!r}; this server serves {', '.join(r.name for r in registry.all_types())}."
        )
    return resource


def current(ctx: Ctx, resource: ResourceType, resource_id: str) -> Row:
    """The row behind ``<type>/<id>`` in the caller's tenant. Raises ResourceNotFound (also for
    another tenant's resource: it does not exist here)."""
    key = resource.valid_id(resource_id)
    rows = (
        resource.source.rows(RowQuery(tenant_id=ctx.tenant_id, where=(Where("id", "eq", key),), limit=1))
        if key is not None
        else []
    )
    if not rows:
        raise ResourceNotFound(f"{resource.name}/{resource_id} is not known.")
    return rows[0]


def read(ctx: Ctx, resource: ResourceType, resource_id: str) -> dict[str, Any]:
    return resource.to_fhir(ctx, [current(ctx, resource, resource_id)])[0]


def versions(ctx: Ctx, resource: ResourceType, row: Row) -> list[dict[str, Any]]:
    if resource.history is not None:
        return resource.history(ctx, row)
    return resource.to_fhir(ctx, [row])


def vread(ctx: Ctx, resource: ResourceType, resource_id: str, version_id: str) -> dict[str, Any]:
    row = current(ctx, resource, resource_id)
    for version in versions(ctx, resource, row):
        if version.get("meta", {}).get("versionId", "1") == version_id:
            return version
    raise ResourceNotFound(f"{resource.name}/{resource_id} has no version {version_id!r}.")


def history(ctx: Ctx, resource: ResourceType, resource_id: str) -> dict[str, Any]:
    """Every version, newest first (http://hl7.org/fhir/R4/http.html#history)."""
    row = current(ctx, resource, resource_id)
    found = versions(ctx, resource, row)
    entries = []
    for index, version in enumerate(reversed(found)):
        first = index == len(found) - 1
        vid = version.get("meta", {}).get("versionId")
        entries.append(
            {
                "fullUrl": ctx.url(resource.name, resource_id),
                "resource": version,
                "request": {
                    "method": "POST" if first else "PUT",
                    "url": resource.name if first else f"{resource.name}/{resource_id}",
                },
                "response": {
                    "status": "201 Created" if first else "200 OK",
                    **({"etag": f'W/"{vid}"'} if vid else {}),
                    "lastModified": version["meta"]["lastUpdated"],
                },
            }
        )
    return bundle(
        "history", entries, links={"self": link(ctx, f"{resource.name}/{resource_id}/_history", [])}, total=len(entries)
    )
