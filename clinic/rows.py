"""Read views: how an app publishes rows for edges that read in bulk (the FHIR API), without
handing out models or querysets (public: apps may import this module).

An app declares a :class:`ReadView` per kind of row (its model, the names it publishes and the
ORM path behind each) and its facade runs a :class:`RowQuery` against it with :func:`run`. The
caller names only published fields; rows come back as plain dicts (``.values()``), always
filtered to one tenant. Ordering is keyset-paged: ``after`` holds the order values of the last
row seen, so a page never repeats or skips a row that existed when paging started, whatever is
written meanwhile (an OFFSET would).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Q

OPS = {"eq": "exact", "ne": "exact", "lt": "lt", "le": "lte", "gt": "gt", "ge": "gte"}
OPS |= {
    "in": "in",
    "iexact": "iexact",
    "startswith": "startswith",
    "istartswith": "istartswith",
    "icontains": "icontains",
    "isnull": "isnull",
    "contains": "contains",  # an array or JSON column holds the value
    "overlap": "overlap",  # an array column holds one of the values
}


@dataclass(frozen=True, slots=True)
class Where:
    """``field op value``; ``field`` is a published name, ``op`` a key of :data:`OPS`."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when any of its terms is (each term: a Where or an AllOf)."""

    terms: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    terms: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """True when its term is not (rows whose field is NULL included)."""

    term: Term


Term = Where | AnyOf | AllOf | Not


@dataclass(frozen=True, slots=True)
class RowQuery:
    """One page of rows of one tenant. ``order`` names published fields (``-`` for descending)
    and must end in a unique one (``id``), so the keyset is total."""

    tenant_id: int
    where: tuple[Term, ...] = ()
    order: tuple[str, ...] = ("id",)
    after: tuple[Any, ...] | None = None
    limit: int | None = None
    fields: tuple[str, ...] | None = None  # None: every published field


@dataclass(frozen=True)
class ReadView:
    """A kind of row an app publishes: ``fields`` maps each public name to its ORM path."""

    model: type[models.Model]
    fields: dict[str, str]
    # Names usable only in ``where`` (JSON paths); single-valued: a to-many path would repeat rows.
    filters: dict[str, str] = field(default_factory=dict)
    tenant_path: str = "tenant_id"
    shared: bool = False  # rows with no tenant (global terminology) are every tenant's too
    scope: Q | None = None  # rows the view never publishes are left out by this condition

    def path(self, name: str) -> str:
        path = self.fields.get(name) or self.filters.get(name)
        if path is None:
            raise KeyError(f"{self.model.__name__} publishes no field {name!r}")
        return path


def coded_filters(column: str = "coded") -> dict[str, str]:
    """Filter names for a JSON column holding terminology's ``CodedValue.as_dict()``: the code as
    received (``original_*``) and its translation (``translated_*``)."""
    return {
        f"{side}_{part}": f"{column}__{side}__{part}"
        for side in ("original", "translated")
        for part in ("system", "code")
    }


class BadRowQuery(ValueError):
    """A query names a field or operator the view does not publish (a programming error)."""


def _term(view: ReadView, term: Term) -> Q:
    if isinstance(term, Not):
        return ~_term(view, term.term)
    if isinstance(term, AnyOf):
        q = Q()
        for t in term.terms:
            q |= _term(view, t)
        return q if term.terms else Q(pk__in=[])
    if isinstance(term, AllOf):
        q = Q()
        for t in term.terms:
            q &= _term(view, t)
        return q
    try:
        path = view.path(term.field)
        lookup = OPS[term.op]
    except KeyError as exc:
        raise BadRowQuery(str(exc)) from exc
    q = Q(**{f"{path}__{lookup}": term.value})
    return ~q if term.op == "ne" else q


def _nullable(view: ReadView, path: str) -> bool:
    """Whether a published path can be NULL (a path through a relation: assume so)."""
    if "__" in path:
        return True
    field = view.model._meta.get_field(path.removesuffix("_id") if path.endswith("_id") else path)
    return bool(getattr(field, "null", True))


def _keyset(view: ReadView, order: Sequence[str], after: Sequence[Any]) -> Q:
    """Rows strictly after ``after`` in ``order`` (NULLs sort last either way, as in ORDER BY
    ... NULLS LAST)."""
    if len(after) != len(order):
        raise BadRowQuery("the keyset has one value per order field")
    q = Q(pk__in=[])
    equal = Q()
    for name, value in zip(order, after, strict=True):
        descending = name.startswith("-")
        path = view.path(name.lstrip("-"))
        if value is None:
            step = Q(pk__in=[])  # nothing sorts after NULL at this level
            same = Q(**{f"{path}__isnull": True})
        else:
            step = Q(**{f"{path}__{'lt' if descending else 'gt'}": value})
            if _nullable(view, path):  # (a bare "id > v" keeps the primary key's index usable)
                step |= Q(**{f"{path}__isnull": True})
            same = Q(**{path: value})
        q |= equal & step
        equal &= same
    return q


def queryset(view: ReadView, query: RowQuery) -> models.QuerySet[Any]:
    tenant = Q(**{view.tenant_path: query.tenant_id})
    if view.shared:
        tenant |= Q(**{f"{view.tenant_path}__isnull": True})
    qs = view.model._default_manager.filter(tenant)
    if view.scope is not None:
        qs = qs.filter(view.scope)
    for term in query.where:
        qs = qs.filter(_term(view, term))
    if query.after is not None:
        qs = qs.filter(_keyset(view, query.order, query.after))
    return qs


def run(view: ReadView, query: RowQuery) -> list[dict[str, Any]]:
    """The rows of one page, as dicts keyed by published name."""
    names = query.fields or tuple(view.fields)
    try:
        paths = {name: view.fields[name] for name in names}
        ordering = []
        for name in query.order:
            expression = models.F(view.path(name.lstrip("-")))
            ordering.append(
                expression.desc(nulls_last=True) if name.startswith("-") else expression.asc(nulls_last=True)
            )
    except KeyError as exc:
        raise BadRowQuery(str(exc)) from exc
    qs = queryset(view, query).order_by(*ordering).values_list(*paths.values())
    if query.limit is not None:
        qs = qs[: query.limit]
    keys = tuple(paths)
    return [dict(zip(keys, row, strict=True)) for row in qs]


def count(view: ReadView, query: RowQuery) -> int:
    return queryset(view, query).count()


class Publisher:
    """What an app's facade exposes of its read views: ``read_rows`` and ``count_rows``, by view
    name. Raises KeyError for a view the app does not publish, BadRowQuery for a bad query."""

    def __init__(self, views: dict[str, ReadView]) -> None:
        self.views = views

    def read_rows(self, *, view: str, query: RowQuery) -> list[dict[str, Any]]:
        return run(self.views[view], query)

    def count_rows(self, *, view: str, query: RowQuery) -> int:
        return count(self.views[view], query)
