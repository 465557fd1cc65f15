"""Search (http://hl7.org/fhir/R4/search.html): GET ``/<type>?...`` and POST ``/<type>/_search``.

Pages are keyset-paged: ``next`` carries the sort values of the page's last row (``_cursor``),
so following it while data is written never skips a row that matched before, nor repeats one
that did not change; every link keeps the search's parameters, ``_include`` and ``_revinclude``.
By ID (the default) that is the keyset alone; with ``_sort`` the pages run in two phases (rows
as they stood at the first page, then those changed since), see ``_page_sorted``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from clinic.rows import AnyOf, Not, RowQuery, Where
from interop.fhir import registry
from interop.fhir.bundle import bundle, decode_cursor, encode_cursor, link, match, notes_entry
from interop.fhir.errors import BadRequest, NotAcceptable, NotSupported
from interop.fhir.params import note_merged_patients
from interop.fhir.registry import Ctx, Include, ResourceType, Row, Term
from interop.fhir.resources.common import rows_by

DEFAULT_COUNT = 50
MAX_COUNT = 1000
MAX_REVINCLUDE = 1000  # per _revinclude per page
JSON_FORMATS = {"json", "application/json", "application/fhir+json"}
CONTROL = {
    "_count",
    "_sort",
    "_summary",
    "_elements",
    "_include",
    "_revinclude",
    "_format",
    "_cursor",
    "_total",
    "_pretty",
}
# Parameters every type has in the spec that filter rows and that we do not support: ignoring
# one would answer every row, as if the client had asked for no filter, so each is a 400
# (http://hl7.org/fhir/R4/search.html#all).
REFUSED = {
    "_filter": "the _filter expression language",
    "_list": "searching by List membership",
    "_text": "full-text search of the narrative",
    "_content": "full-text search of the resource",
    "_tag": "searching by meta.tag",
    "_profile": "searching by meta.profile",
    "_security": "searching by meta.security",
    "_query": "named queries",
}
_ELEMENT = re.compile(r"^[a-z][A-Za-z0-9]*(\[x\])?$")


@dataclass
class SearchRequest:
    resource: ResourceType
    terms: list[Term] = field(default_factory=list)
    canonical: list[tuple[str, str]] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    order: tuple[str, ...] = ("id",)
    summary_count: bool = False
    total: bool = False
    elements: set[str] | None = None
    includes: list[tuple[ResourceType, Include]] = field(default_factory=list)
    revincludes: list[tuple[ResourceType, Include]] = field(default_factory=list)
    after: tuple[Any, ...] | None = None
    # Sorted searches page in two phases (see ``run``): the rows as they stood when the first
    # page was served (``started``), then those written or changed since.
    phase: int = 1
    started: str | None = None


def parse_count(value: str, *, minimum: int) -> int:
    """``_count``: a whole number from ``minimum``, capped at MAX_COUNT
    (http://hl7.org/fhir/R4/search.html#count). Raises BadRequest."""
    try:
        count = int(value)
        if count < minimum:
            raise ValueError
    except ValueError:
        raise BadRequest(
            f"_count must be a whole number from {minimum}, not {value!r}.", expression=["_count"]
        ) from None
    return min(count, MAX_COUNT)


def check_format(value: str) -> None:
    if value.split(";")[0].strip().lower() not in JSON_FORMATS:
        raise NotAcceptable(f"This server answers in JSON only (_format={value!r}); use _format=json.")


def _ignored(ctx: Ctx, strict: bool, text: str, name: str) -> None:
    if strict:
        raise BadRequest(f"{text} (Prefer: handling=strict).", expression=[name])


def parse(ctx: Ctx, resource: ResourceType, items: list[tuple[str, str]], *, strict: bool) -> SearchRequest:
    req = SearchRequest(resource=resource)
    sort_given = ""
    cursor = ""
    for key, value in items:
        name, _, modifier = key.partition(":")
        if name in CONTROL:
            if name == "_count":
                req.count = parse_count(value, minimum=0)
                req.canonical.append(("_count", str(req.count)))
            elif name == "_sort":
                sort_given = value
            elif name == "_summary":
                if value == "count":
                    req.summary_count = True
                    req.canonical.append(("_summary", "count"))
                elif value != "false":
                    _ignored(ctx, strict, f"_summary={value} is not supported (count and false are)", "_summary")
                    ctx.notes.append(("warning", "not-supported", f"_summary={value} ignored: whole resources given."))
            elif name == "_total":
                if value == "accurate":
                    req.total = True
                    req.canonical.append(("_total", "accurate"))
            elif name == "_elements":
                names = {e.strip() for e in value.split(",") if e.strip()}
                bad = sorted(e for e in names if not _ELEMENT.match(e))
                if bad:
                    raise BadRequest(
                        f"_elements names top-level elements; not {', '.join(bad)}.", expression=["_elements"]
                    )
                req.elements = (req.elements or set()) | names
                req.canonical.append(("_elements", value))
            elif name == "_include":
                inc = _include(ctx, resource, value, strict, modifier)
                if inc:
                    req.includes.append(inc)
                    req.canonical.append((key, value))
            elif name == "_revinclude":
                inc = _revinclude(ctx, resource, value, strict, modifier)
                if inc:
                    req.revincludes.append(inc)
                    req.canonical.append((key, value))
            elif name == "_format":
                check_format(value)
            elif name == "_cursor":
                cursor = value
            continue
        if name in REFUSED:
            raise NotSupported(
                f"{name} ({REFUSED[name]}) is not supported: ignoring it would answer every {resource.name}, "
                "so the search is refused.",
                expression=[key],
            )
        if "." in name or name == "_has":
            # Ignoring a chain would answer every row of the type: refuse it instead.
            raise NotSupported(
                f"Chained and reverse-chained parameters ({key}) are not supported: search the referenced "
                "type first, then by its id.",
                expression=[key],
            )
        param = resource.params.get(name)
        if param is None:
            _ignored(ctx, strict, f"{resource.name} has no search parameter {name!r}", name)
            ctx.notes.append(("warning", "not-supported", f"Unknown search parameter {key!r} ignored."))
            continue  # ignored, and left out of the self link
        if modifier == "missing":
            req.terms.append(_missing(param, ctx, key, value))
            req.canonical.append((key, value))
            continue
        if modifier and modifier not in param.modifiers and modifier not in param.targets:
            raise BadRequest(f"Search parameter {name!r} does not support the modifier :{modifier}.", expression=[key])
        alternatives = value.split(",")
        if not any(a.strip() for a in alternatives):
            raise BadRequest(f"Search parameter {name!r} has no value.", expression=[key])
        negate = modifier == "not"  # "does not match any of the values" (search.html#modifiers)
        given = "" if negate or modifier not in param.modifiers else modifier
        terms = [param.build(ctx, given, a) for a in alternatives]
        term: Term = terms[0] if len(terms) == 1 else AnyOf(tuple(terms))
        req.terms.append(Not(term) if negate else term)
        req.canonical.append((key, value))
    if sort_given:
        order = []
        for item in (s.strip() for s in sort_given.split(",")):
            descending = item.startswith("-")
            column = resource.sorts.get(item.lstrip("-"))
            if column is None:
                raise BadRequest(
                    f"{resource.name} cannot be sorted by {item.lstrip('-')!r} "
                    f"(it can by {', '.join(sorted(resource.sorts)) or 'nothing'}).",
                    expression=["_sort"],
                )
            order.append(f"-{column}" if descending else column)
        req.order = (*order, "id")
        req.canonical.append(("_sort", sort_given))
    if cursor:
        values = decode_cursor(f"{resource.name}:{','.join(req.order)}", cursor)
        if req.order != ("id",):
            if len(values) < 2 or values[0] not in (1, 2) or not _aware(values[1]):
                raise BadRequest("_cursor does not belong to this search.", expression=["_cursor"])
            req.phase, req.started, values = values[0], values[1], values[2:]
        if len(values) != (2 if req.phase == 2 else len(req.order)):
            raise BadRequest("_cursor does not belong to this search.", expression=["_cursor"])
        req.after = tuple(values)
    return req


def _missing(param: registry.Param, ctx: Ctx, key: str, value: str) -> Term:
    """``<param>:missing=true|false`` (http://hl7.org/fhir/R4/search.html#modifiers): the rows
    without a value for it, or with one."""
    if value not in ("true", "false"):
        raise BadRequest(f"{key} is true or false, not {value!r}.", expression=[key])
    if param.missing is None:  # pragma: no cover - every parameter says (test_fhir_conformance_gaps)
        raise NotSupported(f"{key} is not supported.", expression=[key])
    return param.missing(ctx, value == "true")


def _aware(value: Any) -> bool:
    """A start time as cursors carry it: an ISO date-time with its offset."""
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def damaged_cursor() -> BadRequest:
    return BadRequest("_cursor is damaged: follow the Bundle's next link as given.", expression=["_cursor"])


def _include(
    ctx: Ctx, resource: ResourceType, value: str, strict: bool, modifier: str
) -> tuple[ResourceType, Include] | None:
    if modifier:
        _ignored(ctx, strict, f"_include:{modifier} is not supported", "_include")
        return None
    source_name, _, rest = value.partition(":")
    param, _, target = rest.partition(":")
    inc = resource.includes.get(param) if source_name == resource.name else None
    if inc is None or (target and target != inc.target):
        supported = ", ".join(f"{resource.name}:{p}" for p in sorted(resource.includes)) or "none"
        raise BadRequest(f"_include={value} is not supported here (supported: {supported}).", expression=["_include"])
    return resource, inc


def _revinclude(
    ctx: Ctx, resource: ResourceType, value: str, strict: bool, modifier: str
) -> tuple[ResourceType, Include] | None:
    if modifier:
        _ignored(ctx, strict, f"_revinclude:{modifier} is not supported", "_revinclude")
        return None
    source_name, _, rest = value.partition(":")
    param, _, target = rest.partition(":")
    source = registry.get(source_name)
    inc = source.includes.get(param) if source else None
    if source is None or inc is None or inc.target != resource.name or (target and target != resource.name):
        options = sorted(
            f"{s.name}:{p}" for s in registry.all_types() for p, i in s.includes.items() if i.target == resource.name
        )
        raise BadRequest(
            f"_revinclude={value} is not supported on {resource.name} (supported: {', '.join(options) or 'none'}).",
            expression=["_revinclude"],
        )
    return source, inc


# The top-level elements of minimum cardinality 1 of each type served, kept whatever _elements
# names: "Servers SHOULD always return mandatory elements whether they are requested or not"
# (http://hl7.org/fhir/R4/search.html#elements), so a subsetted resource is still valid.
MANDATORY: dict[str, frozenset[str]] = {
    "Appointment": frozenset({"status", "participant"}),
    "ChargeItem": frozenset({"status", "code", "subject"}),
    "ConceptMap": frozenset({"status"}),
    "DiagnosticReport": frozenset({"status", "code"}),
    "Encounter": frozenset({"status", "class"}),
    "Observation": frozenset({"status", "code"}),
    "ServiceRequest": frozenset({"status", "intent", "subject"}),
}


def elements(resource: dict[str, Any], names: set[str] | None) -> dict[str, Any]:
    """``_elements``: the mandatory elements and those named, marked SUBSETTED."""
    if names is None:
        return resource
    mandatory = MANDATORY.get(resource["resourceType"], frozenset())
    keep = {"resourceType", "id", "meta"} | mandatory | names | {n.replace("[x]", "") for n in names}
    out = {
        k: v
        for k, v in resource.items()
        if k in keep or any(k.startswith(n.replace("[x]", "")) and n.endswith("[x]") for n in names)
    }
    out["meta"] = {
        **resource.get("meta", {}),
        "tag": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}],
    }
    return out


def run(ctx: Ctx, req: SearchRequest) -> dict[str, Any]:
    resource = req.resource
    everything = RowQuery(tenant_id=ctx.tenant_id, where=tuple(req.terms))  # what a count counts
    self_link = link(ctx, resource.name, req.canonical)
    if req.summary_count or req.count == 0:
        counted = resource.source.count(everything)
        note_merged_patients(ctx, ctx.patient_refs)
        return bundle("searchset", notes_entry(ctx), links={"self": self_link}, total=counted)
    links = {"self": self_link}
    try:
        rows, cursor = (_page_by_id if req.order == ("id",) else _page_sorted)(ctx, req)
    except (ValidationError, ValueError, TypeError) as exc:
        if req.after is None and req.started is None:
            raise
        raise damaged_cursor() from exc  # values no row can have: not a cursor this server wrote
    more = cursor is not None
    if cursor is not None:
        token = encode_cursor(f"{resource.name}:{','.join(req.order)}", cursor)
        links["next"] = link(ctx, resource.name, [*req.canonical, ("_cursor", token)])
    entries = [match(ctx, elements(r, req.elements)) for r in resource.to_fhir(ctx, rows)]
    entries += included(ctx, rows, req.includes, req.revincludes, seen={(resource.name, str(r["id"])) for r in rows})
    # A merged-away patient has no rows of its own (a merge moves them all): only a referenced
    # patient the page shows no row of can be one, so the common search asks nothing more.
    on_page = {row.get(resource.patient_field) for row in rows} if resource.patient_field else set()
    note_merged_patients(ctx, ctx.patient_refs - on_page)
    entries += notes_entry(ctx)
    total: int | None = None
    if req.total:
        total = resource.source.count(everything)
    elif not more and req.after is None:
        total = len(rows)  # the whole result is on this page
    return bundle("searchset", entries, links=links, total=total)


def _rows(
    ctx: Ctx, req: SearchRequest, where: tuple[Term, ...], order: tuple[str, ...], after: Any, n: int
) -> list[Row]:
    query = RowQuery(tenant_id=ctx.tenant_id, where=where, order=order, after=after, limit=n + 1)
    return req.resource.source.rows(query)


def _page_by_id(ctx: Ctx, req: SearchRequest) -> tuple[list[Row], list[Any] | None]:
    """By ID, the keyset alone is enough: IDs never change, so no row moves past the cursor."""
    rows = _rows(ctx, req, tuple(req.terms), req.order, req.after, req.count)
    if len(rows) <= req.count:
        return rows, None
    rows = rows[: req.count]
    return rows, [rows[-1][f.lstrip("-")] for f in req.order]


def _start_time() -> str:
    """When a sorted search starts, by the database's clock, less a grace
    (``CLINIC_FHIR_PAGING_GRACE_SECONDS``, 1): a row stamped just before but committed just
    after the first page still counts as changed since, so phase 2 serves it."""
    grace = float(getattr(settings, "CLINIC_FHIR_PAGING_GRACE_SECONDS", 1))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp() - make_interval(secs => %s)", [grace])
        (started,) = cursor.fetchone()
    return str(started.isoformat())


def _page_sorted(ctx: Ctx, req: SearchRequest) -> tuple[list[Row], list[Any] | None]:
    """A sort key can change while a client pages (a correction moves a result's date and
    lastUpdated), and a keyset alone would then skip a row that moved behind the cursor, or
    repeat one that moved ahead. So the first page fixes a start time, and pages run in two
    phases: (1) the rows last changed by then, in the requested order (their keys cannot move,
    since any change moves lastUpdated past the start); (2) the rows written or changed since,
    oldest change first. No row is skipped; a row changed after it was served comes again, at
    its new version, in phase 2."""
    updated = req.resource.updated_field
    started = req.started or _start_time()
    terms = tuple(req.terms)
    rows: list[Row] = []
    if req.phase == 1:
        rows = _rows(ctx, req, (*terms, Where(updated, "le", started)), req.order, req.after, req.count)
        if len(rows) > req.count:
            rows = rows[: req.count]
            return rows, [1, started, *(rows[-1][f.lstrip("-")] for f in req.order)]
    after = req.after if req.phase == 2 else None
    room = req.count - len(rows)
    changed = _rows(ctx, req, (*terms, Where(updated, "gt", started)), (updated, "id"), after, room)
    rows += changed[:room]
    if len(changed) > room:
        last = rows[-1]
        return rows, [2, started, last[updated], last["id"]]
    return rows, None


def included(
    ctx: Ctx,
    rows: list[Row],
    includes: list[tuple[ResourceType, Include]],
    revincludes: list[tuple[ResourceType, Include]],
    *,
    seen: set[tuple[str, str]],
) -> list[dict[str, Any]]:
    """The ``include`` entries of a page: the resources its rows refer to (``_include``) and
    those referring to them (``_revinclude``), each once, only of types the caller may read."""
    out: list[dict[str, Any]] = []

    def add(type_name: str, found: list[Row]) -> None:
        target = registry.get(type_name)
        assert target is not None
        fresh = [r for r in found if (type_name, str(r["id"])) not in seen]
        seen.update((type_name, str(r["id"])) for r in fresh)
        out.extend(match(ctx, res, "include") for res in target.to_fhir(ctx, fresh))

    for _, inc in includes:
        target = registry.get(inc.target)
        assert target is not None
        if not ctx.can_read(target.name):
            ctx.notes.append(
                ("warning", "forbidden", f"_include of {target.name} left out: this client may not read it.")
            )
            continue
        if inc.from_field:
            add(target.name, rows_by(target.source, ctx, "id", [r[inc.from_field] for r in rows]))
        else:
            add(target.name, rows_by(target.source, ctx, inc.reverse_field, [r["id"] for r in rows]))
    for source, inc in revincludes:
        if not ctx.can_read(source.name):
            ctx.notes.append(
                ("warning", "forbidden", f"_revinclude of {source.name} left out: this client may not read it.")
            )
            continue
        ids = [r["id"] for r in rows]
        if inc.from_field:
            found = (
                source.source.rows(
                    RowQuery(
                        tenant_id=ctx.tenant_id,
                        where=(Where(inc.from_field, "in", ids),),
                        order=("id",),
                        limit=MAX_REVINCLUDE + 1,
                    )
                )
                if ids
                else []
            )
            if len(found) > MAX_REVINCLUDE:
                found = found[:MAX_REVINCLUDE]
                ctx.notes.append(
                    (
                        "warning",
                        "too-costly",
                        f"_revinclude of {source.name} cut at {MAX_REVINCLUDE} per page; ask for smaller pages.",
                    )
                )
        else:  # the page's rows point at the source (DiagnosticReport:result on Observation)
            found = rows_by(source.source, ctx, "id", [r.get(inc.reverse_field) for r in rows])
        add(source.name, found)
    return out
