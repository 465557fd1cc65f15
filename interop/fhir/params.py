"""Search parameter values (http://hl7.org/fhir/R4/search.html#ptypes): token, reference, date
and string, and the builders resource modules declare their parameters with."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from clinic.rows import AllOf, AnyOf, Not, Where
from interop.fhir.errors import BadRequest
from interop.fhir.registry import NOTHING, Ctx, Param, Term

# --- :missing (http://hl7.org/fhir/R4/search.html#modifiers) -----------------------------------

EVERY_ROW = Where("id", "isnull", False)


def absent(field: str, *, blank: bool = True) -> Term:
    """``field`` holds no value: NULL, or (``blank``: a text column) the empty string."""
    if not blank:
        return Where(field, "isnull", True)
    return AnyOf((Where(field, "isnull", True), Where(field, "eq", "")))


def missing_when(*fields: str, blank: bool = True) -> Callable[[Ctx, bool], Term]:
    """``:missing`` of a parameter whose value is in ``fields``: true when none holds one."""

    def missing(ctx: Ctx, yes: bool) -> Term:
        none = (
            AllOf(tuple(absent(f, blank=blank) for f in fields)) if len(fields) > 1 else absent(fields[0], blank=blank)
        )
        return none if yes else Not(none)

    return missing


def always_present(ctx: Ctx, yes: bool) -> Term:
    """``:missing`` of a parameter every row has a value for (a required element)."""
    return NOTHING if yes else EVERY_ROW


# --- token ------------------------------------------------------------------------------------


def split_token(value: str) -> tuple[str | None, str]:
    """``system|code`` → (system, code); ``|code`` → ("", code) (no system); ``code`` → (None,
    code) (any system)."""
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


def token(name: str, field: str, doc: str, *, system: str | None = None, values: tuple[str, ...] = ()) -> Param:
    """A code held in one column. ``system``: the one system its codes belong to (a token
    naming another system matches nothing); ``values``: the codes allowed (others are 400)."""

    def build(ctx: Ctx, modifier: str, value: str) -> Term:
        sys, code = split_token(value)
        if not code:
            raise BadRequest(f"Search parameter {name!r} needs a code: {value!r}.", expression=[name])
        if values and code not in values:
            raise BadRequest(
                f"{code!r} is not a valid {name} (expected one of {', '.join(values)}).", expression=[name]
            )
        if sys is not None and system is not None and sys != system:
            return NOTHING
        return Where(field, "eq", code)  # :not is the whole parameter negated (search.parse)

    return Param(name, "token", doc, build, modifiers=("not",), missing=missing_when(field))


def identifier(name: str, systems: Callable[[Ctx], dict[str, str]], doc: str) -> Param:
    """An Identifier held in columns, one per system (``systems(ctx)``: system → field):
    ``system|value``, or ``value`` in any of them."""

    def build(ctx: Ctx, modifier: str, value: str) -> Term:
        sys, code = split_token(value)
        if not code:
            raise BadRequest(f"Search parameter {name!r} needs a value: {value!r}.", expression=[name])
        fields = [f for s, f in systems(ctx).items() if sys is None or sys == s]
        if not fields:
            return NOTHING
        return AnyOf(tuple(Where(f, "eq", code) for f in fields))

    def missing(ctx: Ctx, yes: bool) -> Term:
        return missing_when(*systems(ctx).values())(ctx, yes)

    return Param(name, "token", doc, build, missing=missing)


# --- reference --------------------------------------------------------------------------------


def reference_id(name: str, value: str, targets: tuple[str, ...]) -> tuple[str, str]:
    """``123``, ``Patient/123`` or ``<base>/Patient/123`` → (type, id)."""
    value = value.strip()
    if not value:
        raise BadRequest(f"Search parameter {name!r} needs a reference.", expression=[name])
    parts = value.rstrip("/").split("/")
    if len(parts) == 1:
        if len(targets) != 1:
            raise BadRequest(f"Give {name} as Type/id (one of {', '.join(targets)}).", expression=[name])
        return targets[0], parts[0]
    type_name, resource_id = parts[-2], parts[-1]
    if type_name not in targets:
        raise BadRequest(
            f"Search parameter {name!r} refers to {', '.join(targets)}, not {type_name}.", expression=[name]
        )
    return type_name, resource_id


def reference(name: str, field: str, target: str, doc: str) -> Param:
    def build(ctx: Ctx, modifier: str, value: str) -> Term:
        from interop.fhir import registry

        type_name, resource_id = reference_id(name, value, (target,))
        resource = registry.get(type_name)
        valid = resource.valid_id(resource_id) if resource else None
        if valid is None:
            return NOTHING  # no resource has this ID: nothing refers to it
        if type_name == "Patient":
            ctx.patient_refs.add(valid)  # checked for a merge once the page is known (search.run)
        return Where(field, "eq", valid)

    return Param(name, "reference", doc, build, targets=(target,), missing=missing_when(field, blank=False))


def note_merged_patients(ctx: Ctx, patient_ids: set[Any]) -> None:
    """A search by a merged-away patient finds what was moved to the survivor under the
    survivor's ID: say so in the Bundle (an informational OperationOutcome). One query for
    every patient the search referred to."""
    from clinic.rows import RowQuery
    from identity import facade as identity

    if not patient_ids:
        return
    rows = identity.read_rows(
        view="patient",
        query=RowQuery(
            tenant_id=ctx.tenant_id,
            where=(Where("id", "in", sorted(patient_ids, key=str)), Where("replaced_by", "isnull", False)),
            fields=("id", "replaced_by"),
        ),
    )
    for row in rows:
        ctx.notes.append(
            (
                "information",
                "informational",
                f"Patient/{row['id']} was merged into Patient/{row['replaced_by']}: its records are "
                f"now under Patient/{row['replaced_by']}; search by that patient.",
            )
        )


# --- date -------------------------------------------------------------------------------------

PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb")
_DATE = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(\.(?P<f>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _later(end: Callable[[], datetime]) -> datetime:
    """The end of a range, or the end of time for a range that ends after year 9999."""
    try:
        return end()
    except (ValueError, OverflowError):
        return datetime.max.replace(tzinfo=UTC)


def date_range(name: str, text: str) -> tuple[datetime, datetime]:
    """A partial date(time) as the half-open range it denotes, in UTC (a value without a time
    zone is read as UTC): ``2024`` → [2024-01-01, 2025-01-01)."""
    match = _DATE.match(text)
    if not match:
        raise BadRequest(
            f"Search parameter {name!r}: {text!r} is not a date (YYYY, YYYY-MM, YYYY-MM-DD or "
            "YYYY-MM-DDThh:mm[:ss][Z|±hh:mm], after an optional eq/ne/lt/gt/le/ge/sa/eb prefix).",
            expression=[name],
        )
    g = match.groupdict()
    try:
        if g["m"] is None:
            start = datetime(int(g["y"]), 1, 1, tzinfo=UTC)
            end = _later(lambda: start.replace(year=start.year + 1))
        elif g["d"] is None:
            start = datetime(int(g["y"]), int(g["m"]), 1, tzinfo=UTC)
            end = _later(
                lambda: (
                    start.replace(year=start.year + 1, month=1)
                    if start.month == 12
                    else start.replace(month=start.month + 1)
                )
            )
        elif g["H"] is None:
            start = datetime(int(g["y"]), int(g["m"]), int(g["d"]), tzinfo=UTC)
            end = _later(lambda: start + timedelta(days=1))
        else:
            tz = UTC
            if g["tz"] and g["tz"] != "Z":
                sign = 1 if g["tz"][0] == "+" else -1
                hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
                if hours > 14 or minutes > 59:  # ISO 8601 zones run from -12:00 to +14:00
                    raise ValueError(f"no time zone is {g['tz']} from UTC")
                tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
            micro = int((g["f"] or "0").ljust(6, "0"))
            start = datetime(
                int(g["y"]), int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), int(g["S"] or 0), micro, tzinfo=tz
            )
            # The range the value's precision implies (search.html#date): 10:00:01.418 is the
            # millisecond [.418, .419), as the API itself writes lastUpdated.
            precision = (
                timedelta(microseconds=10 ** (6 - len(g["f"])))
                if g["f"]
                else timedelta(seconds=1)
                if g["S"]
                else timedelta(minutes=1)
            )
            end = _later(lambda: start + precision)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(
            f"Search parameter {name!r}: {text!r} is not a valid date ({exc}).", expression=[name]
        ) from exc
    return start, end


def date_terms(name: str, field: str, value: str, *, as_date: bool = False) -> Term:
    """The rows whose ``field`` (a point in time) lies in the range the prefixed value says
    (http://hl7.org/fhir/R4/search.html#prefix). ``ap`` is not supported."""
    prefix = value[:2] if value[:2].isalpha() else "eq"
    text = value[2:] if value[:2].isalpha() else value
    if prefix not in PREFIXES:
        raise BadRequest(
            f"Search parameter {name!r}: prefix {prefix!r} is not supported (use {', '.join(PREFIXES)}).",
            expression=[name],
        )
    start, end = date_range(name, text)
    low: Any = start
    high: Any = end
    if as_date:  # a date column (birth date): the days the range touches
        low = start.date()
        try:
            high = end.date() if end.time() == datetime.min.time() else end.date() + timedelta(days=1)
        except OverflowError:
            high = end.date()
    if prefix == "eq":
        return AllOf((Where(field, "ge", low), Where(field, "lt", high)))
    if prefix == "ne":
        return AnyOf((Where(field, "lt", low), Where(field, "ge", high)))
    if prefix in ("lt", "eb"):
        return Where(field, "lt", low)
    if prefix in ("gt", "sa"):
        return Where(field, "ge", high)
    if prefix == "le":
        return Where(field, "lt", high)
    return Where(field, "ge", low)  # ge


def date_param(name: str, field: str, doc: str, *, as_date: bool = False) -> Param:
    def build(ctx: Ctx, modifier: str, value: str) -> Term:
        return date_terms(name, field, value, as_date=as_date)

    return Param(name, "date", doc, build, missing=missing_when(field, blank=False))


# --- string -----------------------------------------------------------------------------------


def string(name: str, fields: tuple[str, ...], doc: str, *, normalise: Callable[[str], str] | None = None) -> Param:
    """Starts with, ignoring case (and accents and punctuation when ``normalise`` maps the value
    to the normalised key ``fields`` hold); ``:exact`` and ``:contains`` as in the spec."""

    def build(ctx: Ctx, modifier: str, value: str) -> Term:
        if not value.strip():
            raise BadRequest(f"Search parameter {name!r} needs a value.", expression=[name])
        op = {"exact": "iexact", "contains": "icontains"}.get(modifier, "istartswith")
        text = normalise(value) if normalise else value
        if not text:
            return NOTHING
        return AnyOf(tuple(Where(f, op, text) for f in fields))

    return Param(name, "string", doc, build, modifiers=("exact", "contains"), missing=missing_when(*fields))


def uri(name: str, field: str, doc: str) -> Param:
    def build(ctx: Ctx, modifier: str, value: str) -> Term:
        return Where(field, "eq", value)

    return Param(name, "uri", doc, build, missing=missing_when(field))


def custom(
    name: str,
    type_: str,
    doc: str,
    build: Callable[[Ctx, str, str], Term],
    *,
    missing: Callable[[Ctx, bool], Term],
    **kw: Any,
) -> Param:
    """A parameter with its own reading of values; it says what ``:missing`` means for it."""
    return Param(name, type_, doc, build, missing=missing, **kw)


# --- the parameters every type has ------------------------------------------------------------


def common(updated_field: str, id_type: type) -> dict[str, Param]:
    def by_id(ctx: Ctx, modifier: str, value: str) -> Term:
        try:
            return Where("id", "eq", id_type(value.strip()))
        except (ValueError, TypeError):
            return NOTHING  # no resource has this ID

    return {
        "_id": Param("_id", "token", "Logical id of the resource", by_id, missing=always_present),
        "_lastUpdated": Param(
            "_lastUpdated",
            "date",
            "When the resource last changed",
            lambda ctx, modifier, value: date_terms("_lastUpdated", updated_field, value),
            missing=always_present,
        ),
    }


LOINC = "http://loinc.org"


def coded(name: str, doc: str, *, loinc_field: str = "") -> Param:
    """A code searched in a ``coded`` JSON: its translation (LOINC, in ``loinc_field`` when the
    view has that column) or the code as received; ``system|code``, ``code`` or ``system|``."""

    def build(ctx: Ctx, modifier: str, value: str) -> Term:
        sys, code = split_token(value)
        if not code and not sys:
            raise BadRequest(f"Search parameter {name!r} needs a code: {value!r}.", expression=[name])
        options: list[Term] = []
        if loinc_field and code and sys in (None, LOINC):
            options.append(Where(loinc_field, "eq", code))
        elif loinc_field and sys == LOINC:  # ``http://loinc.org|``: any LOINC, translations too
            options.append(Where(loinc_field, "ne", ""))
        for side in ("translated", "original"):
            if loinc_field and side == "translated":
                continue
            terms: list[Where] = []
            if code:
                terms.append(Where(f"{side}_code", "eq", code))
            if sys:
                terms.append(Where(f"{side}_system", "eq", sys))
            elif sys == "":  # ``|code``: a coding with no system (http://hl7.org/fhir/R4/search.html#token)
                terms.append(Where(f"{side}_system", "isnull", True))
            if terms:
                options.append(AllOf(tuple(terms)))
        return AnyOf(tuple(options)) if options else NOTHING

    def missing(ctx: Ctx, yes: bool) -> Term:
        code = ("original_code", *((loinc_field,) if loinc_field else ()))
        none = AllOf(tuple(absent(f) for f in code))
        return none if yes else Not(none)

    return Param(name, "token", doc, build, missing=missing)
