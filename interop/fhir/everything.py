"""``Patient/{id}/$everything`` and ``Encounter/{id}/$everything``
(http://hl7.org/fhir/R4/patient-operation-everything.html,
http://hl7.org/fhir/R4/encounter-operation-everything.html), paged.

A page holds up to ``_count`` resources, the head (the resource and what it refers to) first,
then type after type in a fixed order; ``next`` carries the type and the last ID reached (in the
head: how many of it were sent), so paging survives concurrent writes like search does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError

from clinic.rows import RowQuery, Where
from interop.fhir import registry
from interop.fhir.bundle import bundle, decode_cursor, encode_cursor, link, match
from interop.fhir.errors import BadRequest, Forbidden, MergedPatient
from interop.fhir.params import date_range
from interop.fhir.read import current
from interop.fhir.registry import Ctx, ResourceType, Row
from interop.fhir.resources.common import rows_by
from interop.fhir.search import DEFAULT_COUNT, check_format, damaged_cursor, parse_count

PATIENT_TYPES: tuple[str, ...] = (
    "Encounter",
    "Appointment",
    "ServiceRequest",
    "DiagnosticReport",
    "Specimen",
    "Observation",
    "ChargeItem",
)
ENCOUNTER_TYPES: tuple[str, ...] = ("ServiceRequest", "DiagnosticReport", "Observation", "ChargeItem")


@dataclass
class Options:
    count: int = DEFAULT_COUNT
    cursor: str = ""
    since: str | None = None  # _since: only what changed after it
    types: set[str] | None = None  # _type: only these types
    canonical: list[tuple[str, str]] = field(default_factory=list)  # kept on every link


def _options(items: list[tuple[str, str]]) -> Options:
    """The operation's parameters (http://hl7.org/fhir/R4/patient-operation-everything.html):
    ``_count``, ``_since``, ``_type``; others would widen the answer by being ignored, so
    they are refused."""
    options = Options()
    for key, value in items:
        if key == "_count":
            options.count = parse_count(value, minimum=1)
            value = str(options.count)
        elif key == "_cursor":
            options.cursor = value
            continue
        elif key == "_format":
            check_format(value)
            continue
        elif key == "_since":
            start, _ = date_range("_since", value)
            options.since = start.isoformat()
        elif key == "_type":
            names = {t.strip() for t in value.split(",") if t.strip()}
            unknown = sorted(n for n in names if registry.get(n) is None)
            if unknown:
                raise BadRequest(f"_type names unknown resource types: {', '.join(unknown)}.", expression=["_type"])
            options.types = (options.types or set()) | names
        else:
            raise BadRequest(
                f"$everything does not support the parameter {key!r} (it takes _count, _since and _type).",
                expression=[key],
            )
        options.canonical.append((key, value))
    if not any(k == "_count" for k, _ in options.canonical):
        options.canonical.insert(0, ("_count", str(options.count)))
    return options


def _changed_since(t: ResourceType, options: Options) -> tuple[Where, ...]:
    return (Where(t.updated_field, "gt", options.since),) if options.since else ()


def _wanted(options: Options, resource: dict[str, Any]) -> bool:
    if options.types is not None and resource["resourceType"] not in options.types:
        return False
    if options.since is not None:
        updated = resource.get("meta", {}).get("lastUpdated")
        return bool(updated) and datetime.fromisoformat(updated.replace("Z", "+00:00")) > datetime.fromisoformat(
            options.since
        )
    return True


def everything(ctx: Ctx, resource: ResourceType, resource_id: str, items: list[tuple[str, str]]) -> dict[str, Any]:
    if not ctx.can_read(resource.name):
        raise Forbidden(f"$everything on {resource.name} requires the scope system/{resource.name}.read.")
    options = _options(items)
    count, cursor = options.count, options.cursor
    row = current(ctx, resource, resource_id)
    if resource.name == "Patient":
        if row.get("replaced_by"):
            survivor = row["replaced_by"]
            raise MergedPatient(
                f"Patient/{resource_id} was merged into Patient/{survivor}; its records are under the "
                f"survivor: ask Patient/{survivor}/$everything.",
                expression=["Patient.link"],
                headers={"Location": f"{ctx.base}/Patient/{survivor}/$everything"},
            )
        head = _head_patient(ctx, row)
        field, names = "patient_field", PATIENT_TYPES
    else:
        head = _head_encounter(ctx, row)
        field, names = "encounter_field", ENCOUNTER_TYPES
    head = [r for r in head if _wanted(options, r)]
    types = [
        t
        for t in (registry.get(n) for n in names)
        if t is not None and ctx.can_read(t.name) and (options.types is None or t.name in options.types)
    ]
    kind = f"{resource.name}/$everything"
    # Position: -1 is the head (the resource itself and what it refers to), then each type.
    position, after = -1, None
    if cursor:
        values = decode_cursor(kind, cursor)
        if (
            len(values) != 2
            or not isinstance(values[0], int)
            or values[0] < -1
            or (values[0] == -1 and not isinstance(values[1], int))
        ):
            raise BadRequest("_cursor does not belong to this operation.", expression=["_cursor"])
        position, after = values
    entries: list[dict[str, Any]] = []
    remaining = count
    next_cursor: list[Any] | None = None
    if position == -1:
        # The head counts against _count like every entry: a page never holds more
        # (http://hl7.org/fhir/R4/search.html#count). ``after`` is how much of it was sent.
        start = after or 0
        sent = head[start : start + remaining]
        entries = [match(ctx, r) for r in sent]
        remaining -= len(sent)
        if start + len(sent) < len(head):
            next_cursor = [-1, start + len(sent)]
        else:
            position, after = 0, None
    while next_cursor is None and position < len(types):
        t = types[position]
        probe = max(remaining, 0) + 1
        query = RowQuery(
            tenant_id=ctx.tenant_id,
            where=(Where(getattr(t, field), "eq", row["id"]), *_changed_since(t, options)),
            order=("id",),
            after=(after,) if after is not None else None,
            limit=probe,
        )
        try:
            rows = t.source.rows(query)
        except (ValidationError, ValueError, TypeError) as exc:
            raise damaged_cursor() from exc  # an ID no row can have: not a cursor this server wrote
        taken = rows[:remaining]
        if len(rows) > len(taken):
            next_cursor = [position, str(taken[-1]["id"]) if taken else after]
            entries += [match(ctx, r) for r in t.to_fhir(ctx, taken)]
            break
        entries += [match(ctx, r) for r in t.to_fhir(ctx, taken)]
        remaining -= len(taken)
        position, after = position + 1, None
    path = f"{resource.name}/{resource_id}/$everything"
    params = options.canonical
    links = {"self": link(ctx, path, params + ([("_cursor", cursor)] if cursor else []))}
    if next_cursor is not None:
        links["next"] = link(ctx, path, [*params, ("_cursor", encode_cursor(kind, next_cursor))])
    return bundle("searchset", entries, links=links)


def _readable(ctx: Ctx, type_name: str, field: str, ids: list[Any]) -> list[dict[str, Any]]:
    t = registry.get(type_name)
    if t is None or not ctx.can_read(type_name):
        return []
    return t.to_fhir(ctx, rows_by(t.source, ctx, field, ids))


def _head_patient(ctx: Ctx, row: Row) -> list[dict[str, Any]]:
    patient = registry.get("Patient")
    assert patient is not None
    return [*patient.to_fhir(ctx, [row]), *_readable(ctx, "Organization", "id", [ctx.tenant_id])]


def _head_encounter(ctx: Ctx, row: Row) -> list[dict[str, Any]]:
    encounter = registry.get("Encounter")
    assert encounter is not None
    return [
        *encounter.to_fhir(ctx, [row]),
        *_readable(ctx, "Patient", "id", [row["patient"]]),
        *_readable(ctx, "Appointment", "id", [row["appointment"]]),
        *_readable(ctx, "Practitioner", "id", [row["practitioner"]]),
        *_readable(ctx, "Location", "id", [row["site"]]),
        *_readable(ctx, "Organization", "id", [ctx.tenant_id]),
    ]
