"""What the API serves: each resource module registers its type here, with the read view it
projects, its search parameters, sorts, includes and history. The CapabilityStatement, the
search parser and the operations all read this registry, so they cannot disagree."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from clinic.contracts import Principal
from clinic.rows import RowQuery, Where
from clinic.rows import Term as Term  # re-exported: resource modules build terms

Row = dict[str, Any]
NOTHING = Where("id", "in", [])  # a term no row matches


@dataclass
class Ctx:
    """One request: whose data, where the API lives (for references and links), and what the
    caller may read. ``notes`` collects informational issues for the Bundle's OperationOutcome."""

    tenant_id: int
    base: str
    principal: Principal
    notes: list[tuple[str, str, str]] = field(default_factory=list)
    patient_refs: set[Any] = field(default_factory=set)  # patients the search's references name

    def can_read(self, type_name: str) -> bool:
        scopes = self.principal.scopes
        return bool({f"system/{type_name}.read", f"system/{type_name}.*", "system/*.read", "system/*.*"} & set(scopes))

    def url(self, type_name: str, resource_id: Any) -> str:
        return f"{self.base}/{type_name}/{resource_id}"


@dataclass(frozen=True)
class Source:
    """A read view of an app, reached through its facade's ``read_rows``/``count_rows``."""

    read_rows: Callable[..., list[Row]]
    count_rows: Callable[..., int]
    view: str

    def rows(self, query: RowQuery) -> list[Row]:
        return self.read_rows(view=self.view, query=query)

    def count(self, query: RowQuery) -> int:
        return self.count_rows(view=self.view, query=query)


@dataclass(frozen=True)
class Param:
    """A search parameter (http://hl7.org/fhir/R4/search.html). ``build`` turns one value (one
    comma-separated alternative) with its modifier into a term; ``missing`` gives the term of
    ``:missing=true`` (True: the rows without a value) or ``:missing=false`` (False: with one)."""

    name: str
    type: str  # token | reference | date | string | uri | number
    doc: str
    build: Callable[[Ctx, str, str], Term]
    targets: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    missing: Callable[[Ctx, bool], Term] | None = None


@dataclass(frozen=True)
class Include:
    """``_include=<Source>:<param>``: the target type, and how a page's rows reach its rows:
    through a field holding the target's ID (``from_field``), or the target's rows holding the
    page's IDs in ``reverse_field`` (DiagnosticReport:result: observations point at reports)."""

    param: str
    target: str
    from_field: str = ""
    reverse_field: str = ""


@dataclass
class ResourceType:
    name: str
    source: Source
    to_fhir: Callable[[Ctx, list[Row]], list[dict[str, Any]]]
    doc: str
    params: dict[str, Param] = field(default_factory=dict)
    sorts: dict[str, str] = field(default_factory=dict)  # _sort name → published field
    includes: dict[str, Include] = field(default_factory=dict)  # by param name
    updated_field: str = "updated_at"
    id_type: type = UUID
    versioned: bool = False
    # (ctx, current row) → every version, oldest first, each a resource; for vread/_history.
    history: Callable[[Ctx, Row], list[dict[str, Any]]] | None = None
    patient_field: str = ""  # this type's rows in a patient's compartment ($everything)
    encounter_field: str = ""

    def valid_id(self, value: str) -> Any:
        """The ID as the view stores it, or None when it cannot be an ID of this type."""
        try:
            return self.id_type(value)
        except (ValueError, TypeError):
            return None


RESOURCES: dict[str, ResourceType] = {}


def register(resource: ResourceType) -> ResourceType:
    RESOURCES[resource.name] = resource
    return resource


def get(name: str) -> ResourceType | None:
    _load()
    return RESOURCES.get(name)


def all_types() -> Iterable[ResourceType]:
    _load()
    return [RESOURCES[name] for name in sorted(RESOURCES)]


def _load() -> None:
    if not RESOURCES:
        from interop.fhir import resources  # noqa: F401  (each module registers its type)
