"""Bundles (http://hl7.org/fhir/R4/bundle.html) and the paging cursor."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from interop.fhir.errors import BadRequest, outcome
from interop.fhir.registry import Ctx
from interop.fhir.values import instant


def bundle(
    type_: str, entries: list[dict[str, Any]], *, links: dict[str, str], total: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(datetime.now(UTC))},
        "type": type_,
    }
    if total is not None:
        body["total"] = total
    body["link"] = [{"relation": rel, "url": url} for rel, url in links.items()]
    if entries:
        body["entry"] = entries
    return body


def match(ctx: Ctx, resource: dict[str, Any], mode: str = "match") -> dict[str, Any]:
    return {
        "fullUrl": ctx.url(resource["resourceType"], resource["id"]),
        "resource": resource,
        "search": {"mode": mode},
    }


def notes_entry(ctx: Ctx) -> list[dict[str, Any]]:
    """The informational issues of the request as one ``outcome`` entry (none if no notes)."""
    if not ctx.notes:
        return []
    seen: list[tuple[str, str, str]] = []
    for note in ctx.notes:
        if note not in seen:
            seen.append(note)
    return [{"resource": outcome(*seen), "search": {"mode": "outcome"}}]


def link(ctx: Ctx, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params, safe="|:/,")
    return f"{ctx.base}/{path}" + (f"?{query}" if query else "")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | uuid.UUID | Decimal):
        return str(value)
    return value


def encode_cursor(kind: str, values: list[Any]) -> str:
    raw = json.dumps({"k": kind, "v": [_plain(v) for v in values]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, token: str) -> list[Any]:
    """The values a cursor carries. Raises BadRequest for a cursor of another search or a
    damaged one (a link must be followed as given)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("v"), list):
            raise ValueError
    except (ValueError, TypeError) as exc:
        raise BadRequest(
            "_cursor is not a paging cursor of this search: follow the Bundle's next link as given.",
            expression=["_cursor"],
        ) from exc
    return list(data["v"])
