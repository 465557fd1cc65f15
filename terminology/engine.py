"""Translation as of a date, with an in-process cache.

Which version of a map applies on a date: the latest version published on or before that day;
for dates before the map's first publication, its first version. So publishing a new version
never changes what an earlier date translates to (tests/terminology/test_translate.py).

Within that version, the entry whose validity [valid_from, valid_to) holds the date. A tenant's
own maps win over global ones for the same source code and target system.

The cache holds, per (tenant, source system, code, target system), the candidate entries of
every published version, and the published versions of every map. It is emptied when the
publishing process publishes, and in every other process when it notices (at most
``TERMINOLOGY_CACHE_CHECK_SECONDS`` later) that the set of published versions or concepts
changed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max

from terminology.contracts import Coding, MapVersionRef, Translation
from terminology.models import Concept, ConceptMapVersion

CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class _Entry:
    map_id: int
    version_id: int
    tenant_id: int | None
    source_display: str
    target_code: str
    target_display: str
    equivalence: str
    comment: str
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True, slots=True)
class _Version:
    id: int
    map_id: int
    map_name: str
    map_url: str
    tenant_id: int | None
    label: str
    published_at: datetime
    published_on: date


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[Any, ...], tuple[_Entry, ...]] = OrderedDict()
        self.concepts: dict[tuple[str, str], tuple[str, date | None, date | None] | None] = {}
        self.versions_by_map: dict[int, list[_Version]] | None = None
        self.generation: tuple[Any, ...] | None = None
        self.checked_at = 0.0


_state = _State()


def invalidate() -> None:
    """Forget everything cached in this process (called on publication)."""
    with _state.lock:
        _state.entries.clear()
        _state.concepts.clear()
        _state.versions_by_map = None
        _state.generation = None
        _state.checked_at = 0.0


def _generation() -> tuple[Any, ...]:
    versions = ConceptMapVersion.objects.filter(published_at__isnull=False).aggregate(
        n=Count("id"), last=Max("published_at")
    )
    concepts = Concept.objects.aggregate(last=Max("updated_at"))
    return (versions["n"], versions["last"], concepts["last"])


def _fresh() -> None:
    now = time.monotonic()
    if now - _state.checked_at < settings.TERMINOLOGY_CACHE_CHECK_SECONDS:
        return
    generation = _generation()
    with _state.lock:
        if generation != _state.generation:
            _state.entries.clear()
            _state.concepts.clear()
            _state.versions_by_map = None
            _state.generation = generation
        _state.checked_at = now


def _versions() -> dict[int, list[_Version]]:
    versions = _state.versions_by_map
    if versions is None:
        versions = {}
        rows = (
            ConceptMapVersion.objects.filter(published_at__isnull=False)
            .select_related("concept_map")
            .order_by("published_at", "id")
        )
        for v in rows:
            assert v.published_at is not None
            versions.setdefault(v.concept_map_id, []).append(
                _Version(
                    id=v.pk,
                    map_id=v.concept_map_id,
                    map_name=v.concept_map.name,
                    map_url=v.concept_map.url,
                    tenant_id=v.concept_map.tenant_id,
                    label=v.label,
                    published_at=v.published_at,
                    published_on=v.published_at.date(),
                )
            )
        _state.versions_by_map = versions
    return versions


_CANDIDATES_SQL = """
SELECT v.concept_map_id, e.version_id, m.tenant_id, e.source_display, e.target_code, e.target_display,
       e.equivalence, e.comment, e.valid_from, e.valid_to
  FROM terminology_conceptmapentry e
  JOIN terminology_conceptmapversion v ON v.id = e.version_id
  JOIN terminology_conceptmap m ON m.id = v.concept_map_id
 WHERE e.source_system = %s AND e.source_code = %s AND e.target_system = %s
   AND v.published_at IS NOT NULL AND (m.tenant_id IS NULL OR m.tenant_id = %s)
"""

_CONCEPT_SQL = """
SELECT c.status, c.effective_from, c.effective_to
  FROM terminology_concept c JOIN terminology_codesystem s ON s.id = c.code_system_id
 WHERE s.uri = %s AND c.code = %s
 LIMIT 1
"""


def _candidates(tenant_id: int, source_system: str, code: str, target_system: str) -> tuple[_Entry, ...]:
    key = (tenant_id, source_system, code, target_system)
    found = _state.entries.get(key)
    if found is not None:
        return found
    with connection.cursor() as cursor:  # raw SQL: a cache miss should cost one cheap query
        cursor.execute(_CANDIDATES_SQL, [source_system, code, target_system, tenant_id])
        found = tuple(_Entry(*row) for row in cursor.fetchall())
    with _state.lock:
        _state.entries[key] = found
        if len(_state.entries) > CACHE_SIZE:
            _state.entries.popitem(last=False)
    return found


def _version_in_effect(versions: list[_Version], on: date) -> _Version:
    """The latest version published on or before ``on``; before the first publication, the
    first version (so that loading a map also serves the results that came before it)."""
    chosen = versions[0]
    for version in versions:
        if version.published_on <= on:
            chosen = version
        else:
            break
    return chosen


def _concept_status(system: str, code: str, on: date) -> str:
    key = (system, code)
    if key not in _state.concepts:
        with connection.cursor() as cursor:
            cursor.execute(_CONCEPT_SQL, [system, code])
            _state.concepts[key] = cursor.fetchone()
    found = _state.concepts[key]
    if found is None:
        return "unknown"
    status, effective_from, effective_to = found
    if effective_from is not None and on < effective_from:
        return "not-yet-active"
    if effective_to is not None and on >= effective_to:
        return "retired"
    if status == Concept.Status.RETIRED and effective_to is None:
        return "retired"
    return "active"


def translate(*, tenant_id: int, source_system: str, code: str, target_system: str, as_of: date) -> Translation | None:
    _fresh()
    candidates = _candidates(tenant_id, source_system, code, target_system)
    if not candidates:
        return None
    versions = _versions()
    # The tenant's own maps first, then global ones; within a scope, the most recently
    # published map that has an answer.
    for local in (True, False):
        scoped = [c for c in candidates if (c.tenant_id is not None) == local]
        if not scoped:
            continue
        in_effect = {
            map_id: _version_in_effect(versions[map_id], as_of)
            for map_id in {c.map_id for c in scoped}
            if map_id in versions
        }
        hits = [
            c
            for c in scoped
            if c.map_id in in_effect
            and c.version_id == in_effect[c.map_id].id
            and c.valid_from <= as_of
            and (c.valid_to is None or as_of < c.valid_to)
        ]
        if hits:
            hit = max(hits, key=lambda c: (in_effect[c.map_id].published_at, c.map_id))
            version = in_effect[hit.map_id]
            return Translation(
                source=Coding(system=source_system, code=code, display=hit.source_display),
                target=Coding(system=target_system, code=hit.target_code, display=hit.target_display),
                equivalence=hit.equivalence,
                comment=hit.comment,
                valid_from=hit.valid_from,
                valid_to=hit.valid_to,
                map_version=MapVersionRef(
                    map_name=version.map_name,
                    map_url=version.map_url,
                    version=version.label,
                    published_at=version.published_at,
                    tenant_id=version.tenant_id,
                ),
                target_status=_concept_status(target_system, hit.target_code, as_of),
            )
    return None
