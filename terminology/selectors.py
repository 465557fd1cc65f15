"""Terminology reads."""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet

from clinic.rows import ReadView
from terminology import engine
from terminology.contracts import Coding, Translation, UnmappedRecord
from terminology.models import CodeSystem, ConceptMapEntry, ConceptMapVersion, UnmappedCode


def translate(*, tenant_id: int, system: str, code: str, target_system: str, as_of: date) -> Translation | None:
    """What ``system|code`` translates to in ``target_system`` on ``as_of`` (see ``engine``)."""
    return engine.translate(
        tenant_id=tenant_id, source_system=system, code=code, target_system=target_system, as_of=as_of
    )


_V2_SYSTEMS_TTL = 30.0
_v2_systems: dict[tuple[int, str], tuple[float, str | None]] = {}


def system_for_v2(*, tenant_id: int, v2_identifier: str) -> str | None:
    """The canonical URI of a code system named in HL7 v2 (CWE-3), e.g. 'LN' → LOINC.

    Remembered for 30 s in the process: a result feed asks for 'LN' twenty times a message,
    and code systems change a few times a year."""
    import time

    key = (tenant_id, v2_identifier)
    now = time.monotonic()
    cached = _v2_systems.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    if len(_v2_systems) > 10_000:
        _v2_systems.clear()
    uri = _system_for_v2(tenant_id=tenant_id, v2_identifier=v2_identifier)
    _v2_systems[key] = (now + _V2_SYSTEMS_TTL, uri)
    return uri


def _system_for_v2(*, tenant_id: int, v2_identifier: str) -> str | None:
    uri = (
        CodeSystem.objects.filter(Q(tenant__isnull=True) | Q(tenant_id=tenant_id), v2_identifier=v2_identifier)
        .order_by("tenant_id")  # the tenant's own before the global one (NULLs sort last)
        .values_list("uri", flat=True)
        .first()
    )
    return uri


def concepts_of(*, tenant_id: int, system: str) -> list[Coding]:
    from terminology.models import Concept

    rows = (
        Concept.objects.filter(Q(code_system__tenant__isnull=True) | Q(code_system__tenant_id=tenant_id))
        .filter(code_system__uri=system, status=Concept.Status.ACTIVE)
        .order_by("code")
        .values_list("code", "display")
    )
    return [Coding(system=system, code=code, display=display) for code, display in rows]


def unmapped(*, tenant_id: int, include_resolved: bool = False) -> QuerySet[UnmappedCode]:
    qs = UnmappedCode.objects.filter(tenant_id=tenant_id)
    return qs if include_resolved else qs.filter(resolved_at__isnull=True)


def unmapped_record(row: UnmappedCode) -> UnmappedRecord:
    return UnmappedRecord(
        id=row.pk,
        source_system=row.source_system,
        code=row.code,
        target_system=row.target_system,
        display=row.display,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        count=row.count,
        last_reference=row.last_reference,
        resolved_at=row.resolved_at,
    )


# --- Read views (clinic.rows): the FHIR API's ConceptMap (one per published version) ----------

READ_VIEWS = {
    "concept_map": ReadView(
        model=ConceptMapVersion,
        tenant_path="concept_map__tenant_id",
        shared=True,
        scope=Q(published_at__isnull=False),
        fields={
            "id": "id",
            "name": "concept_map__name",
            "url": "concept_map__url",
            "title": "concept_map__title",
            "version": "label",
            "published_at": "published_at",
            "created_at": "created_at",
        },
    ),
    "concept_map_entry": ReadView(
        model=ConceptMapEntry,
        tenant_path="version__concept_map__tenant_id",
        shared=True,
        scope=Q(version__published_at__isnull=False),
        fields={
            "id": "id",
            "map_version": "version_id",
            "source_system": "source_system",
            "source_code": "source_code",
            "source_display": "source_display",
            "target_system": "target_system",
            "target_code": "target_code",
            "target_display": "target_display",
            "equivalence": "equivalence",
            "comment": "comment",
            "valid_from": "valid_from",
            "valid_to": "valid_to",
        },
    ),
}
