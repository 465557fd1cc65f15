"""Translation as of a date, with an in-process cache.

For one map and a clinical date D:

1. the version *in effect* on D is the latest version published on or before D (publication
   days count in the server's time zone); if it has an entry for the code valid on D, that
   entry answers;
2. otherwise the versions published after D are searched, oldest first, for an entry valid on D
   (a *back-fill*: a code that was unmapped on D becomes mapped; nothing already mapped changes).

Across maps, an answer from a version in effect beats a back-fill (so a map published later never
overrides what an older map said about an earlier date); among in-effect answers the most
recently published version wins (publication changes answers from its day on); among
back-fills the earliest published wins. A tenant's own maps are asked before global ones at
each of the two levels. So publishing never changes a translation of an earlier date; it can
only fill in one that was missing (tests/terminology/test_translate.py).

The cache holds, per (tenant, source system, code, target system), the candidate entries of
every published version, and the published versions of every map. It is emptied when the
publishing process publishes, and in every other process when it notices (at most
``TERMINOLOGY_CACHE_CHECK_SECONDS`` later, and at once before answering "unmapped") that the set
of published versions or concepts changed.
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
from django.utils import timezone

from terminology import sql
from terminology.contracts import Coding, MapVersionRef, Translation
from terminology.models import Concept, ConceptMapVersion

CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class _Entry:
    """A row of ``sql.TRANSLATION_CANDIDATES`` (its columns are these fields, in this order)."""

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
        self.concepts: dict[tuple[int, str, str], tuple[str, date | None, date | None] | None] = {}
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


def _fresh(*, force: bool = False) -> bool:
    """Empty the cache if publications happened since it was filled; returns whether it did."""
    now = time.monotonic()
    if not force and now - _state.checked_at < settings.TERMINOLOGY_CACHE_CHECK_SECONDS:
        return False
    generation = _generation()
    changed = False
    with _state.lock:
        if generation != _state.generation:
            changed = _state.generation is not None
            _state.entries.clear()
            _state.concepts.clear()
            _state.versions_by_map = None
            _state.generation = generation
        _state.checked_at = now
    return changed


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
                    published_on=timezone.localtime(v.published_at).date(),
                )
            )
        _state.versions_by_map = versions
    return versions


def _candidates(tenant_id: int, source_system: str, code: str, target_system: str) -> tuple[_Entry, ...]:
    key = (tenant_id, source_system, code, target_system)
    found = _state.entries.get(key)
    if found is not None:
        return found
    with connection.cursor() as cursor:  # raw SQL: a cache miss should cost one cheap query
        cursor.execute(sql.TRANSLATION_CANDIDATES, [source_system, code, target_system, tenant_id])
        found = tuple(_Entry(*row) for row in cursor.fetchall())
    with _state.lock:
        _state.entries[key] = found
        if len(_state.entries) > CACHE_SIZE:
            _state.entries.popitem(last=False)
    return found


def _answer_for_map(versions: list[_Version], entries: list[_Entry], on: date) -> tuple[bool, _Version, _Entry] | None:
    """(in_effect, version, entry) that answers for one map on ``on``, or None (see above)."""
    by_version: dict[int, list[_Entry]] = {}
    for entry in entries:
        if entry.valid_from <= on and (entry.valid_to is None or on < entry.valid_to):
            by_version.setdefault(entry.version_id, []).append(entry)
    prior = [v for v in versions if v.published_on <= on]
    if prior and by_version.get(prior[-1].id):
        return True, prior[-1], by_version[prior[-1].id][0]
    for version in versions:
        if version.published_on > on and by_version.get(version.id):
            return False, version, by_version[version.id][0]
    return None


def _concept_status(tenant_id: int, system: str, code: str, on: date) -> str:
    key = (tenant_id, system, code)
    if key not in _state.concepts:
        with connection.cursor() as cursor:
            cursor.execute(sql.CONCEPT_STATUS, [system, code, tenant_id])
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


def translate(
    *, tenant_id: int, source_system: str, code: str, target_system: str, as_of: date, _retried: bool = False
) -> Translation | None:
    _fresh()
    candidates = _candidates(tenant_id, source_system, code, target_system)
    answer = _answer(candidates, as_of) if candidates else None
    if answer is None:
        # Before saying "unmapped" (which puts the code on a work list), make sure this process
        # has not missed a publication of the last second.
        if not _retried and _fresh(force=True):
            return translate(
                tenant_id=tenant_id,
                source_system=source_system,
                code=code,
                target_system=target_system,
                as_of=as_of,
                _retried=True,
            )
        return None
    version, hit = answer
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
        target_status=_concept_status(tenant_id, target_system, hit.target_code, as_of),
    )


def _answer(candidates: tuple[_Entry, ...], on: date) -> tuple[_Version, _Entry] | None:
    versions = _versions()
    by_map: dict[int, list[_Entry]] = {}
    for entry in candidates:
        by_map.setdefault(entry.map_id, []).append(entry)
    answers: list[tuple[bool, bool, _Version, _Entry]] = []
    for map_id, entries in by_map.items():
        if map_id not in versions:
            continue
        found = _answer_for_map(versions[map_id], entries, on)
        if found is not None:
            in_effect, version, entry = found
            answers.append((in_effect, version.tenant_id is not None, version, entry))
    if not answers:
        return None
    current = [a for a in answers if a[0]]
    if current:
        # The tenant's own first, then the most recently published version.
        best = max(current, key=lambda a: (a[1], a[2].published_at, a[2].map_id))
    else:
        # Back-fills: the tenant's own first, then the earliest published version.
        best = min(answers, key=lambda a: (not a[1], a[2].published_at, a[2].map_id))
    return best[2], best[3]
