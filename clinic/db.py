"""Model building blocks for the apps above the kernel (public: apps may import this module),
and the bulk-insert helpers of their hot paths (ADR 0005)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db import models


class TenantScopedModel(models.Model):
    """A row owned by one tenant. The foreign key adds no reverse accessor on Tenant, so the
    kernel does not learn about the apps above it."""

    tenant = models.ForeignKey("clinic.Tenant", on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True


def prepared_cursor() -> Any:
    """A cursor of Django's own connection (so: the current transaction) that binds parameters
    server-side, so PostgreSQL prepares a statement run again and again (a lab result's dozen
    statements) instead of parsing and planning it every time. Use it for fixed SQL on hot
    paths; ``%s`` placeholders as usual; cast empty arrays and JSON text explicitly."""
    import psycopg
    from django.db import connection

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


# --- Bulk inserts -------------------------------------------------------------------------------


def new_row(model: type[models.Model], **values: Any) -> Any:
    """A row to insert with ``insert_new``, as a plain namespace with the model's attribute
    names (``report_id``, not ``report``), every field not given at its default: building
    twenty model instances for one message costs more than the rest of its mapping. Fields
    whose default is a callable (a UUID, a timestamp) must be given. Rows read back from the
    database are model instances as usual."""
    label = model._meta.label
    if label not in _defaults:
        _defaults[label] = {f.attname: f.get_default() for f in model._meta.concrete_fields if not callable(f.default)}
    return SimpleNamespace(**{**_defaults[label], **values})


_defaults: dict[str, dict[str, Any]] = {}


def insert_new(model: type[models.Model], rows: Sequence[Any], *, constraint: str) -> set[Any]:
    """``INSERT ... ON CONFLICT ON CONSTRAINT <constraint> DO NOTHING`` of ``rows`` (model
    instances or ``new_row`` namespaces, every concrete field set); returns the primary keys
    actually inserted. A row whose key exists (written before, or by a concurrent transaction
    that committed while this one waited on the index) is skipped.

    The rows go in as one array per column (``SELECT ... FROM unnest(...)``): the statement
    text is the same whatever the number of rows, so the driver prepares it once, and twenty
    rows cost one round trip and a few dozen parameters instead of hundreds. ``auto_now`` and
    ``auto_now_add`` fields are filled in as ``Model.save`` would. Runs in the caller's
    transaction."""
    if not rows:
        return set()
    plan = insert_plan(model, constraint)
    columns: list[list[Any]] = [[] for _ in plan.fields]
    for row in rows:
        for index, (f, convert) in enumerate(zip(plan.fields, plan.converters, strict=True)):
            value = f.pre_save(row, add=True) if plan.auto[index] else getattr(row, f.attname)
            columns[index].append(convert(value))
    # Django's cursors bind parameters client-side, escaping every array element through a
    # regular expression; a cursor of the same connection (same transaction) that sends them
    # bound and binary costs a tenth of that, and the statement is prepared once.
    with prepared_cursor() as cursor:
        cursor.execute(plan.sql, [c if any(v is not None for v in c) else None for c in columns])
        return {r[0] for r in cursor.fetchall()}


@dataclass(frozen=True, slots=True)
class InsertPlan:
    """The statement ``insert_new`` sends for one model and constraint, and how each column's
    values are converted to the array it binds."""

    sql: str
    fields: list[models.Field]  # type: ignore[type-arg]
    converters: list[Callable[[Any], Any]]
    auto: list[bool]

    @property
    def columns(self) -> list[str]:
        """The table's columns the statement writes, in order."""
        return [f.column for f in self.fields]


_plans: dict[tuple[str, str], InsertPlan] = {}


def pg_array_literal(values: Sequence[str] | None) -> str | None:
    """A PostgreSQL array literal of strings (``{"a","b \\"c\\""}``), or None: an array column
    travels as text inside ``unnest``'s array of arrays and is cast back."""
    if values is None:
        return None
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _json_text() -> Callable[[Any], str | None]:
    from django.core.serializers.json import DjangoJSONEncoder

    def to_text(value: Any) -> str | None:
        return None if value is None else json.dumps(value, cls=DjangoJSONEncoder)

    return to_text


def _unchanged(value: Any) -> Any:
    return value


def insert_plan(model: type[models.Model], constraint: str) -> InsertPlan:
    """The ``insert_new`` statement of ``model``: every concrete field, in the model's order
    (built once per model and constraint)."""
    key = (model._meta.label, constraint)
    if key not in _plans:
        _plans[key] = _build_plan(model, constraint)
    return _plans[key]


def _build_plan(model: type[models.Model], constraint: str) -> InsertPlan:
    from django.contrib.postgres.fields import ArrayField
    from django.db import connection

    fields = list(model._meta.concrete_fields)
    quote = connection.ops.quote_name
    unnest: list[str] = []
    selected: list[str] = []
    converters: list[Callable[[Any], Any]] = []
    json_text = _json_text()
    for index, f in enumerate(fields):
        db_type = f.db_type(connection) or "text"
        name = f"c{index}"
        if isinstance(f, ArrayField):
            unnest.append("%b::text[]")
            selected.append(f"{name}::{db_type}")
            converters.append(pg_array_literal)
        elif isinstance(f, models.JSONField):
            unnest.append("%b::text[]")
            selected.append(f"{name}::jsonb")
            converters.append(json_text)
        else:
            base = db_type.split("(")[0].strip()
            unnest.append(f"%b::{base}[]")
            selected.append(f"{name}::{db_type}")
            converters.append(_unchanged)
    auto = [bool(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)) for f in fields]
    aliases = ", ".join(f"c{i}" for i in range(len(fields)))
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"SELECT {', '.join(selected)} FROM unnest({', '.join(unnest)}) AS t({aliases}) "
        f"ON CONFLICT ON CONSTRAINT {quote(constraint)} DO NOTHING RETURNING {model._meta.pk.column}"
    )
    return InsertPlan(sql=sql, fields=fields, converters=converters, auto=auto)
