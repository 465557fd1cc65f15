"""Kernel reads: who is calling, tenant policy, sites and outbox events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from clinic import flags, policy
from clinic.contracts import FlagState, MembershipRef, Principal, Role, TenantRef
from clinic.errors import AmbiguousTenant, NotFound
from clinic.models import ApiClient, Membership, OutboxEvent, Site, Tenant
from clinic.rows import ReadView
from clinic.services import hash_token


def tenant_ref(tenant: Tenant) -> TenantRef:
    return TenantRef(id=tenant.pk, slug=tenant.slug, name=tenant.name)


def get_tenant(*, slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise NotFound(f"No tenant with slug {slug!r}.")
    return tenant


def get_tenant_ref(*, tenant_id: int | None = None, slug: str | None = None) -> TenantRef:
    qs = Tenant.objects.all()
    if tenant_id is not None:
        qs = qs.filter(pk=tenant_id)
    if slug is not None:
        qs = qs.filter(slug=slug)
    tenant = qs.first() if (tenant_id is not None or slug is not None) else None
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant_ref(tenant)


def client_for_token(token: str) -> ApiClient | None:
    """The active API client whose token this is, with its active tenant, or None."""
    return (
        ApiClient.objects.select_related("tenant")
        .filter(token_sha256=hash_token(token), is_active=True, tenant__is_active=True)
        .first()
    )


def client_principal(client: ApiClient) -> Principal:
    return Principal(
        tenant=tenant_ref(client.tenant),
        kind="client",
        id=str(client.pk),
        name=client.name,
        scopes=frozenset(client.scopes),
    )


def user_principal(*, user_id: int, username: str, tenant_id: int | None = None) -> Principal | None:
    """The principal of a staff user in a tenant: the given one, or their only tenant.

    Returns None when the user has no (active) membership. Raises AmbiguousTenant when they
    belong to several tenants and none was chosen.
    """
    memberships = Membership.objects.select_related("tenant").filter(user_id=user_id, tenant__is_active=True)
    if tenant_id is not None:
        memberships = memberships.filter(tenant_id=tenant_id)
    found = list(memberships[:2])
    if not found:
        return None
    if len(found) > 1:
        raise AmbiguousTenant("The user belongs to several tenants; choose one.")
    membership = found[0]
    return Principal(
        tenant=tenant_ref(membership.tenant),
        kind="user",
        id=str(user_id),
        name=username,
        role=Role(membership.role),
    )


def memberships_of(*, user_id: int) -> list[MembershipRef]:
    """The user's memberships of active tenants, by tenant name."""
    rows = Membership.objects.select_related("tenant").filter(user_id=user_id, tenant__is_active=True)
    return [
        MembershipRef(tenant=tenant_ref(m.tenant), role=Role(m.role))
        for m in sorted(rows, key=lambda m: (m.tenant.name, m.tenant.slug))
    ]


def admin_tenant_ids(*, user_id: int) -> list[int]:
    """Tenants in which the user is an admin (what Django admin shows them)."""
    return list(
        Membership.objects.filter(user_id=user_id, role=Role.ADMIN.value, tenant__is_active=True).values_list(
            "tenant_id", flat=True
        )
    )


def effective_policy(*, tenant_id: int) -> dict[str, Any]:
    tenant = Tenant.objects.select_related("policy_template").get(pk=tenant_id)
    template_settings = tenant.policy_template.settings if tenant.policy_template else {}
    return policy.effective(template_settings, tenant.policy_overrides)


def flag_is_active(*, name: str, tenant_id: int) -> bool:
    """Whether a feature flag is on for a tenant (see ``clinic.flags`` for the precedence).
    Raises UnknownFlag for a flag no app declared."""
    flags.spec(name)
    (state,) = _flag_states(Tenant.objects.select_related("policy_template").get(pk=tenant_id), only=name)
    return state.active


def flag_states(*, tenant_id: int) -> list[FlagState]:
    """Every declared flag with its value for the tenant and what decided it, by name."""
    return _flag_states(Tenant.objects.select_related("policy_template").get(pk=tenant_id))


def _flag_states(tenant: Tenant, *, only: str | None = None) -> list[FlagState]:
    from waffle.models import Switch

    switches = Switch.objects.all() if only is None else Switch.objects.filter(name=only)
    template = tenant.policy_template.settings if tenant.policy_template else {}
    return flags.evaluate(
        switches={name: bool(active) for name, active in switches.values_list("name", "active")},
        template=_flags_section(template),
        overrides=_flags_section(tenant.policy_overrides),
        only=only,
    )


def _flags_section(document: Any) -> dict[str, Any]:
    section = document.get(flags.FLAGS_POLICY_SECTION) if isinstance(document, dict) else None
    return section if isinstance(section, dict) else {}


def sites(*, tenant_id: int) -> QuerySet[Site]:
    return Site.objects.filter(tenant_id=tenant_id).order_by("code")


def get_site(*, tenant_id: int, site_id: int) -> Site:
    site = Site.objects.filter(tenant_id=tenant_id, pk=site_id).first()
    if site is None:
        raise NotFound("No such site.")
    return site


def events(
    *,
    tenant_id: int,
    type: str | None = None,
    patient_id: UUID | None = None,
    encounter_id: UUID | None = None,
    undelivered: bool | None = None,
) -> QuerySet[OutboxEvent]:
    qs = OutboxEvent.objects.filter(tenant_id=tenant_id)
    if type:
        qs = qs.filter(type=type)
    if patient_id:
        qs = qs.filter(patient_id=patient_id)
    if encounter_id:
        qs = qs.filter(encounter_id=encounter_id)
    if undelivered is not None:
        qs = qs.filter(delivered_at__isnull=undelivered)
    return qs


def get_event(*, tenant_id: int, event_id: UUID) -> OutboxEvent:
    event = OutboxEvent.objects.filter(tenant_id=tenant_id, pk=event_id).prefetch_related("deliveries").first()
    if event is None:
        raise NotFound("No such event.")
    return event


def events_for_projection(
    *,
    tenant_id: int,
    encounter_id: UUID | None = None,
    patient_ids: list[UUID] | None = None,
    types: list[str] | None = None,
    payload_equals: dict[str, str] | None = None,
) -> list[OutboxEvent]:
    """Events for rebuilding a projection (an encounter's timeline), oldest first."""
    qs = OutboxEvent.objects.filter(tenant_id=tenant_id)
    if encounter_id is not None:
        qs = qs.filter(encounter_id=encounter_id)
    if patient_ids is not None:
        qs = qs.filter(patient_id__in=patient_ids)
    if types is not None:
        qs = qs.filter(type__in=types)
    for key, value in (payload_equals or {}).items():
        qs = qs.filter(**{f"payload__{key}": value})
    return list(qs.order_by("recorded_at", "id"))


# --- Read views (clinic.rows): the FHIR API's Organization and Location -------------------------

READ_VIEWS = {
    "tenant": ReadView(
        model=Tenant,
        tenant_path="id",
        fields={"id": "id", "slug": "slug", "name": "name", "active": "is_active", "updated_at": "updated_at"},
    ),
    "site": ReadView(
        model=Site,
        fields={
            "id": "id",
            "code": "code",
            "name": "name",
            "timezone": "timezone",
            "address": "address",
            "active": "is_active",
            "tenant": "tenant_id",
            "updated_at": "updated_at",
        },
    ),
}
