"""Identifier systems: the ones a tenant's policy seeds, and those an edge brings in."""

from __future__ import annotations

from django.db.models import QuerySet

from clinic.facade import effective_policy, get_tenant
from identity import selectors
from identity.errors import IdentifierSystemConflict
from identity.models import IdentifierSystem


def ensure_identifier_systems(*, tenant_id: int) -> None:
    """Create the identifier systems the tenant's policy seeds, if missing (idempotent).

    ``{slug}`` and ``{SLUG}`` in a seed are replaced by the tenant's slug (lower/upper case).
    """
    tenant = get_tenant(tenant_id=tenant_id)
    seeds = effective_policy(tenant_id=tenant_id).get("identifier_systems", {}).get("seed", [])
    rows = []
    for seed in seeds:
        values = {
            k: (v.replace("{slug}", tenant.slug).replace("{SLUG}", tenant.slug.upper()) if isinstance(v, str) else v)
            for k, v in seed.items()
        }
        rows.append(IdentifierSystem(tenant_id=tenant_id, **values))
    IdentifierSystem.objects.bulk_create(rows, ignore_conflicts=True)


def ensure_identifier_system(*, tenant_id: int, uri: str, name: str, assigning_authority: str, pattern: str) -> None:
    """See ``identity.facade.ensure_identifier_system``. Raises IdentifierSystemConflict."""
    ensure_identifier_systems(tenant_id=tenant_id)
    IdentifierSystem.objects.bulk_create(
        [
            IdentifierSystem(
                tenant_id=tenant_id,
                uri=uri,
                name=name,
                assigning_authority=assigning_authority,
                validator=IdentifierSystem.Validator.PATTERN,
                pattern=pattern,
                authoritative=False,
            )
        ],
        ignore_conflicts=True,
    )
    if not IdentifierSystem.objects.filter(tenant_id=tenant_id, uri=uri).exists():
        raise IdentifierSystemConflict(
            f"Another identifier system of this tenant has the assigning authority {assigning_authority!r}: "
            f"rename one of them (admin) before using {uri}."
        )


def identifier_systems(*, tenant_id: int) -> QuerySet[IdentifierSystem]:
    """The identifier systems the tenant accepts, by URI; a tenant that has none (created before
    identity seeded new tenants) gets those of its policy first."""
    if not selectors.identifier_systems(tenant_id=tenant_id).exists():
        ensure_identifier_systems(tenant_id=tenant_id)
    return selectors.identifier_systems(tenant_id=tenant_id)


def systems_by_uri(tenant_id: int) -> dict[str, IdentifierSystem]:
    systems = {s.uri: s for s in IdentifierSystem.objects.filter(tenant_id=tenant_id).order_by()}
    if not systems:
        ensure_identifier_systems(tenant_id=tenant_id)
        systems = {s.uri: s for s in IdentifierSystem.objects.filter(tenant_id=tenant_id).order_by()}
    return systems
