"""Pieces every resource module uses: meta, references, our identifier systems, batch lookups."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from clinic.rows import RowQuery, Where
from interop.fhir.registry import Ctx, Row, Source
from interop.fhir.values import compact, instant


def meta(row: Row, *, updated: str = "updated_at", version: Any = None) -> dict[str, Any]:
    return compact({"versionId": str(version) if version is not None else None, "lastUpdated": instant(row[updated])})


def ref(type_name: str, resource_id: Any, display: str = "") -> dict[str, Any] | None:
    if resource_id is None or resource_id == "":
        return None
    return compact({"reference": f"{type_name}/{resource_id}", "display": display})


def system(ctx: Ctx, kind: str) -> str:
    """The Identifier.system of one of our numbering schemes in this tenant (visit numbers,
    placer numbers...). ``CLINIC_FHIR_IDENTIFIER_BASE`` is the deployment's naming root."""
    base = getattr(settings, "CLINIC_FHIR_IDENTIFIER_BASE", "https://clinic.example/fhir/sid")
    return f"{base}/{ctx.principal.tenant.slug}/{kind}"


def rows_by(
    source: Source, ctx: Ctx, field: str, ids: Iterable[Any], fields: tuple[str, ...] | None = None
) -> list[Row]:
    """Every row of a read view whose ``field`` is one of ``ids`` (one query)."""
    wanted = sorted({i for i in ids if i is not None}, key=str)
    if not wanted:
        return []
    return source.rows(
        RowQuery(tenant_id=ctx.tenant_id, where=(Where(field, "in", wanted),), order=("id",), fields=fields)
    )
