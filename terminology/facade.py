"""Public functions of terminology (plain data in and out): other apps call only these, and read
``terminology.contracts`` and the exceptions re-exported here from ``terminology.errors``.

The writes here are steps of the caller's use case: they run in the caller's transaction (their
own when there is none). Only delegation here: reads live in ``selectors``, writes in
``services``."""

from __future__ import annotations

from datetime import date

from clinic.rows import Publisher
from terminology import selectors, services
from terminology.contracts import CodedValue, Coding, Translation
from terminology.errors import InvalidMapFile, MapVersionConflict, MapVersionNotFound, Unmapped

__all__ = [
    # errors (terminology.errors)
    "InvalidMapFile",
    "MapVersionConflict",
    "MapVersionNotFound",
    "Unmapped",
    # functions
    "code_value",
    "concepts_of",
    "count_rows",
    "read_rows",
    "record_unmapped",
    "system_for_v2",
    "translate",
]


def translate(*, tenant_id: int, system: str, code: str, target_system: str, as_of: date) -> Translation | None:
    """The translation in effect on ``as_of`` (with the map version that supplied it), or None
    when unmapped. Cached in process; warm calls cost microseconds."""
    return selectors.translate(tenant_id=tenant_id, system=system, code=code, target_system=target_system, as_of=as_of)


def code_value(
    *,
    tenant_id: int,
    system: str,
    code: str,
    display: str = "",
    target_system: str,
    as_of: date,
    reference: str = "",
) -> CodedValue:
    """The value to store for a received code: the original, its translation as of the clinical
    date and the map version used. An unmapped code is counted on the tenant's work list
    (with ``reference``, e.g. the message that carried it) and stored untranslated."""
    return services.code_value(
        tenant_id=tenant_id,
        system=system,
        code=code,
        display=display,
        target_system=target_system,
        as_of=as_of,
        reference=reference,
    )


def record_unmapped(
    *, tenant_id: int, system: str, code: str, target_system: str, display: str = "", reference: str = ""
) -> None:
    services.record_unmapped(
        tenant_id=tenant_id,
        source_system=system,
        code=code,
        target_system=target_system,
        display=display,
        reference=reference,
    )


def concepts_of(*, tenant_id: int, system: str) -> list[Coding]:
    """The active concepts of a code system the tenant sees (its own, or a global one)."""
    return selectors.concepts_of(tenant_id=tenant_id, system=system)


def system_for_v2(*, tenant_id: int, v2_identifier: str) -> str | None:
    """The code system URI an HL7 v2 coding system name (CWE-3: LN, SCT, HL70078...) stands for."""
    return selectors.system_for_v2(tenant_id=tenant_id, v2_identifier=v2_identifier)


# Rows of this app's read views (selectors.READ_VIEWS) for edges that read in bulk (the FHIR
# API): ``read_rows(view=..., query=clinic.rows.RowQuery(...))`` and ``count_rows``.
_published = Publisher(selectors.READ_VIEWS)
read_rows = _published.read_rows
count_rows = _published.count_rows
