"""Terminology writes: code systems, loading and publishing concept map versions, and the
work list of unmapped codes.

Transactions: a use case that an edge of terminology calls (the admin, a management command)
owns its transaction (``transaction.atomic(durable=True)``): ``ensure_code_system``,
``load_concept_map``, ``publish_versions``, ``map_unmapped``. A use case that other code also
needs inside a transaction of its own wraps a step of the same name ending in
``_in_transaction``, which runs in the caller's transaction (``atomic(savepoint=False)``; its
own when there is none). Functions without a twin are steps.

Events published: ``terminology.mapping_published`` (payload ``contracts.MappingPublished``), once
per tenant whose unmapped codes the publication covers.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.contracts import FieldProblem, InvalidInput, NotFound
from clinic.facade import publish
from terminology import csvformat, engine, sql
from terminology.contracts import CodedValue, Coding, LoadResult, MappingPublished, ReleasedCode
from terminology.errors import InvalidMapFile, MapVersionConflict, MapVersionNotFound
from terminology.models import CodeSystem, ConceptMap, ConceptMapEntry, ConceptMapVersion, UnmappedCode

logger = logging.getLogger("terminology")


def ensure_code_system(
    *, uri: str, name: str, tenant_id: int | None = None, v2_identifier: str = "", version: str = ""
) -> CodeSystem:
    """The use case of ``ensure_code_system_in_transaction``, in a transaction of its own."""
    with transaction.atomic(durable=True):
        return ensure_code_system_in_transaction(
            uri=uri, name=name, tenant_id=tenant_id, v2_identifier=v2_identifier, version=version
        )


def ensure_code_system_in_transaction(
    *, uri: str, name: str, tenant_id: int | None = None, v2_identifier: str = "", version: str = ""
) -> CodeSystem:
    """The code system with this URI (global, or the tenant's), created if missing."""
    system, _ = CodeSystem.objects.get_or_create(
        tenant_id=tenant_id, uri=uri, defaults={"name": name, "v2_identifier": v2_identifier, "version": version}
    )
    return system


def ensure_builtin_content() -> None:
    """The global code systems and the HL7 v2-to-FHIR maps that every installation has
    (migration 0002 loads them; this restores them where they went missing, e.g. a database
    flushed by tests). Idempotent."""
    from django.apps import apps

    from terminology.content import v2tofhir

    with transaction.atomic(savepoint=False):
        for version_id in v2tofhir.load(lambda name: apps.get_model("terminology", name), published_at=None):
            publish_version(version_id=version_id)


def ensure_concepts(*, system_uri: str, tenant_id: int | None, concepts: list[tuple[str, str]]) -> int:
    """Add concepts (code, display) to a code system; existing codes are left alone."""
    from terminology.models import Concept

    owner = Q(tenant__isnull=True) if tenant_id is None else Q(tenant_id=tenant_id)
    system = CodeSystem.objects.get(owner, uri=system_uri)
    created = Concept.objects.bulk_create(
        [Concept(code_system=system, code=code, display=display) for code, display in concepts], ignore_conflicts=True
    )
    return len(created)


def known_systems(*, tenant_id: int | None) -> set[str]:
    query = Q(tenant__isnull=True) | Q(tenant_id=tenant_id) if tenant_id is not None else Q(tenant__isnull=True)
    return set(CodeSystem.objects.filter(query).values_list("uri", flat=True))


def load_concept_map(
    *,
    data: bytes,
    map_name: str,
    version: str,
    tenant_id: int | None,
    url: str = "",
    title: str = "",
    publish_now: bool = True,
) -> LoadResult:
    """The use case of ``load_concept_map_in_transaction``, in a transaction of its own."""
    with transaction.atomic(durable=True):
        return load_concept_map_in_transaction(
            data=data,
            map_name=map_name,
            version=version,
            tenant_id=tenant_id,
            url=url,
            title=title,
            publish_now=publish_now,
        )


def load_concept_map_in_transaction(
    *,
    data: bytes,
    map_name: str,
    version: str,
    tenant_id: int | None,
    url: str = "",
    title: str = "",
    publish_now: bool = True,
) -> LoadResult:
    """Load a concept map version from the CSV format of ``terminology.csvformat``, in the
    caller's transaction.

    Loading the same file again under the same version is a no-op. Raises InvalidMapFile (every
    problem with its line; nothing is loaded), MapVersionConflict (this version exists with other
    content).
    """
    if not version.strip():
        raise InvalidMapFile("A version label is required.", [FieldProblem("version", "must not be blank")])
    digest = hashlib.sha256(data).hexdigest()
    rows, problems = csvformat.parse(data, known_systems=known_systems(tenant_id=tenant_id))
    if problems:
        raise InvalidMapFile(f"The concept map file has {len(problems)} problem(s); nothing was loaded.", problems)
    if not rows:
        raise InvalidMapFile("The concept map file has no entries.", [FieldProblem("file", "has no rows")])
    with transaction.atomic(savepoint=False):
        concept_map, _ = ConceptMap.objects.get_or_create(
            tenant_id=tenant_id,
            name=map_name,
            defaults={"url": url or f"urn:clinic:conceptmap:{map_name}", "title": title or map_name},
        )
        existing = ConceptMapVersion.objects.filter(concept_map=concept_map, label=version).first()
        if existing is not None:
            if existing.source_sha256 != digest:
                raise MapVersionConflict(
                    f"Version {version!r} of map {map_name!r} already exists with different content; "
                    "load it under a new version label."
                )
            return LoadResult(
                map_name=map_name,
                version=version,
                entries=existing.entries.count(),
                created=False,
                published=existing.published_at is not None,
            )
        map_version = ConceptMapVersion.objects.create(concept_map=concept_map, label=version, source_sha256=digest)
        ConceptMapEntry.objects.bulk_create(
            [
                ConceptMapEntry(
                    version=map_version,
                    source_system=r.source_system,
                    source_code=r.source_code,
                    source_display=r.source_display,
                    target_system=r.target_system,
                    target_code=r.target_code,
                    target_display=r.target_display,
                    equivalence=r.equivalence,
                    comment=r.comment,
                    valid_from=r.valid_from,
                    valid_to=r.valid_to,
                )
                for r in rows
            ],
            batch_size=5000,
        )
        if publish_now:
            publish_version(version_id=map_version.pk)
    logger.info("terminology.loaded map=%s version=%s entries=%s", map_name, version, len(rows))
    return LoadResult(map_name=map_name, version=version, entries=len(rows), created=True, published=publish_now)


def publish_versions(*, version_ids: list[int]) -> int:
    """Publish these draft versions (see ``publish_version``) in one transaction of their own;
    returns how many were drafts. Raises MapVersionNotFound."""
    with transaction.atomic(durable=True):
        return sum(publish_version(version_id=version_id) for version_id in version_ids)


def publish_version(*, version_id: int) -> bool:
    """Publish a draft version (it applies to dates from today on), in the caller's
    transaction; returns False if it was already published. Releases the unmapped codes it now
    covers and tells their tenants (``terminology.mapping_published``). Raises
    MapVersionNotFound."""
    with transaction.atomic(savepoint=False):
        version = (
            ConceptMapVersion.objects.select_for_update().select_related("concept_map").filter(pk=version_id).first()
        )
        if version is None:
            raise MapVersionNotFound("No such concept map version.")
        if version.published_at is not None:
            return False
        version.published_at = timezone.now()
        version.save(update_fields=["published_at"])
        _release_unmapped(version)
        # Our own cache at once; other processes within TERMINOLOGY_CACHE_CHECK_SECONDS.
        transaction.on_commit(engine.invalidate)
        engine.invalidate()
    logger.info("terminology.published map=%s version=%s", version.concept_map.name, version.label)
    return True


def _release_unmapped(version: ConceptMapVersion) -> None:
    """Unmapped codes this version covers are resolved; each tenant hears of its own."""
    tenant_id = version.concept_map.tenant_id
    with connection.cursor() as cursor:
        cursor.execute(
            sql.RELEASE_UNMAPPED,
            [version.pk, tenant_id, tenant_id],
        )
        released = cursor.fetchall()
    by_tenant: dict[int, list[ReleasedCode]] = {}
    for tenant, system, code, target in released:
        by_tenant.setdefault(tenant, []).append(ReleasedCode(system=system, code=code, target_system=target))
    for tenant, codes in sorted(by_tenant.items()):
        publish(
            payload=MappingPublished(map=version.concept_map.name, version=version.label, codes=tuple(codes)),
            tenant_id=tenant,
        )


def record_unmapped(
    *, tenant_id: int, source_system: str, code: str, target_system: str, display: str = "", reference: str = ""
) -> None:
    """Count a code no map translates (insert, or bump count and last seen). A code that was
    resolved and turns up unmapped again (its map moved on) is opened again."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.RECORD_UNMAPPED,
            [tenant_id, source_system, code[:100], target_system, display[:500], reference[:200]],
        )


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
    """See ``terminology.facade.code_value``: the translation as of ``as_of``, or the original
    alone after counting it on the work list."""
    original = Coding(system=system, code=code, display=display)
    found = engine.translate(
        tenant_id=tenant_id, source_system=system, code=code, target_system=target_system, as_of=as_of
    )
    if found is None:
        record_unmapped(
            tenant_id=tenant_id,
            source_system=system,
            code=code,
            target_system=target_system,
            display=display,
            reference=reference,
        )
        return CodedValue(original=original, as_of=as_of)
    return CodedValue(
        original=original,
        translated=found.target,
        map_name=found.map_version.map_name,
        map_version=found.map_version.version,
        as_of=as_of,
    )


def map_unmapped(
    *,
    unmapped_id: int,
    concept_map_id: int,
    target_code: str,
    target_display: str = "",
    equivalence: str = "equivalent",
    valid_from: date | None = None,
    actor: str,
) -> ConceptMapVersion:
    """Map a work-list code: a new version of ``concept_map`` = its latest published entries plus
    this one, published at once, in a transaction of its own. Raises InvalidInput, NotFound."""
    unmapped = UnmappedCode.objects.filter(pk=unmapped_id).first()
    concept_map = ConceptMap.objects.filter(pk=concept_map_id).first()
    if unmapped is None or concept_map is None:
        raise NotFound("No such unmapped code or concept map.")
    if concept_map.tenant_id not in (None, unmapped.tenant_id):
        raise NotFound("No such concept map.")
    if not target_code.strip():
        raise InvalidInput("A target code is required.", [FieldProblem("target_code", "must not be blank")])
    with transaction.atomic(durable=True):
        # One mapping at a time per map: each copies the latest version, so two at once would
        # each drop the other's entry.
        ConceptMap.objects.select_for_update().get(pk=concept_map.pk)
        latest = (
            ConceptMapVersion.objects.filter(concept_map=concept_map, published_at__isnull=False)
            .order_by("-published_at")
            .first()
        )
        label = f"{timezone.now():%Y%m%d%H%M%S%f}-{actor.replace(':', '-')}"[:50]
        new = ConceptMapVersion.objects.create(concept_map=concept_map, label=label)
        copied: list[ConceptMapEntry] = []
        if latest is not None:
            for entry in latest.entries.all():
                entry.pk = None
                entry.version = new
                copied.append(entry)
        copied.append(
            ConceptMapEntry(
                version=new,
                source_system=unmapped.source_system,
                source_code=unmapped.code,
                source_display=unmapped.display,
                target_system=unmapped.target_system,
                target_code=target_code.strip(),
                target_display=target_display,
                equivalence=equivalence,
                valid_from=valid_from or csvformat.DEFAULT_VALID_FROM,
                comment=f"mapped from the unmapped work list by {actor}",
            )
        )
        from django.db import IntegrityError

        try:
            with transaction.atomic():
                ConceptMapEntry.objects.bulk_create(copied)
        except IntegrityError as exc:
            raise InvalidInput(
                "This code already has a mapping in that map for the same dates.",
                [FieldProblem("valid_from", "overlaps an existing entry of the map")],
            ) from exc
        publish_version(version_id=new.pk)
    return new
