"""The kernel's public functions. Other apps import only this module, ``clinic.contracts`` and
``clinic.errors`` (plus the kits: ``clinic.db`` and ``clinic.rows`` for models and read views,
``clinic.api`` for HTTP edges, ``clinic.admin`` for admin modules). Everything here takes and
returns plain data; the errors it raises are re-exported here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from clinic import events as event_registry
from clinic import flags, outbox, policy, selectors, services
from clinic.contracts import (
    Event,
    FlagState,
    IdempotentReplay,
    MembershipRef,
    PolicySection,
    Principal,
    SiteRef,
    TenantRef,
)
from clinic.errors import (
    AmbiguousTenant,
    Conflict,
    DomainError,
    FieldProblem,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InvalidEvent,
    InvalidFlag,
    InvalidInput,
    NotFound,
    NotPermitted,
    PublishOutsideTransaction,
    TenantNotFound,
    UnknownFlag,
)
from clinic.rows import Publisher

__all__ = [
    "AmbiguousTenant",
    "Conflict",
    "DomainError",
    "FieldProblem",
    "IdempotencyKeyInvalid",
    "IdempotencyKeyReused",
    "InvalidEvent",
    "InvalidFlag",
    "InvalidInput",
    "NotFound",
    "NotPermitted",
    "PublishOutsideTransaction",
    "TenantNotFound",
    "UnknownFlag",
    "claim_idempotency_key",
    "complete_idempotency_key",
    "count_rows",
    "define_flag",
    "effective_policy",
    "events",
    "flag_is_active",
    "flag_states",
    "get_tenant",
    "memberships_of",
    "principal_for_token",
    "publish",
    "read_rows",
    "register_policy_section",
    "site_ids",
    "sites",
    "subscriber",
    "user_principal",
]


def publish(
    *,
    type: str,
    tenant_id: int,
    payload: dict[str, Any] | None = None,
    patient_id: UUID | None = None,
    encounter_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Publish an event inside the current transaction; it is delivered after commit.

    Raises ``PublishOutsideTransaction`` outside ``transaction.atomic`` and ``InvalidInput`` for
    a malformed type or payload.
    """
    return outbox.publish(
        type=type,
        tenant_id=tenant_id,
        payload=payload,
        patient_id=patient_id,
        encounter_id=encounter_id,
        occurred_at=occurred_at,
    )


def claim_idempotency_key(*, tenant_id: int, scope: str, key: str, request: Any) -> IdempotentReplay | None:
    """Claim a client's Idempotency-Key for ``request`` (any JSON-able description of it) inside
    the use case's transaction. Returns the first outcome when the key was used before for the
    same request; None when the caller should do the work and then ``complete_idempotency_key``.

    Raises InvalidInput (malformed key; key reused for a different request).
    """
    return services.claim_idempotency_key(
        tenant_id=tenant_id, scope=scope, key=key, fingerprint=services.request_fingerprint(request)
    )


def complete_idempotency_key(*, tenant_id: int, scope: str, key: str, result: dict[str, Any]) -> None:
    services.complete_idempotency_key(tenant_id=tenant_id, scope=scope, key=key, result=result)


def subscriber(name: str, *, events_: Iterable[str]) -> Callable[[event_registry.Handler], event_registry.Handler]:
    """Register the decorated function as subscriber ``name`` of the given event types.

    The handler runs in a transaction of its own that also records the delivery, so its
    database effects happen once per event however often the event is delivered. Side effects
    outside the database (a push, a message) belong in ``transaction.on_commit``.
    """

    def decorate(handler: event_registry.Handler) -> event_registry.Handler:
        event_registry.register(name=name, event_types=frozenset(events_), handler=handler)
        return handler

    return decorate


def define_flag(name: str, *, default: bool, description: str) -> str:
    """Declare a feature flag owned by the calling app (in its ``flags.py``, which is imported at
    startup); returns its name. ``name`` is ``<app label>.<lower_snake>``; ``default`` is the
    safe value, used until an operator's switch or the tenant's policy says otherwise.

    Raises InvalidFlag for a malformed declaration or one that differs from an earlier one.
    """
    return flags.define(name, default=default, description=description).name


def flag_is_active(name: str, *, tenant_id: int) -> bool:
    """Whether the flag is on for the tenant: the global waffle Switch of that name if there is
    one, else the tenant's policy (its overrides, then its template), else the flag's default.

    Raises UnknownFlag (a KeyError) for a flag no app declared.
    """
    return selectors.flag_is_active(name=name, tenant_id=tenant_id)


def flag_states(*, tenant_id: int) -> list[FlagState]:
    """Every declared flag with its value for the tenant and what decided it (by name)."""
    return selectors.flag_states(tenant_id=tenant_id)


def register_policy_section(name: str, *, defaults: dict[str, Any], description: str = "") -> None:
    """Add a section (with its defaults) to the tenant policy; templates and tenants may then
    set its keys."""
    policy.register_section(PolicySection(name=name, defaults=defaults, description=description))


def effective_policy(*, tenant_id: int) -> dict[str, Any]:
    """The tenant's policy: defaults, updated by its template, updated by its overrides."""
    return selectors.effective_policy(tenant_id=tenant_id)


def events(
    *,
    tenant_id: int,
    encounter_id: UUID | None = None,
    patient_ids: list[UUID] | None = None,
    types: list[str] | None = None,
    payload_equals: dict[str, str] | None = None,
) -> list[Event]:
    """Committed events matching all the given filters, oldest first (to rebuild projections)."""
    rows = selectors.events_for_projection(
        tenant_id=tenant_id,
        encounter_id=encounter_id,
        patient_ids=patient_ids,
        types=types,
        payload_equals=payload_equals,
    )
    return [outbox.as_contract(row) for row in rows]


def site_ids(*, tenant_id: int) -> set[int]:
    """IDs of the tenant's sites."""
    return set(selectors.sites(tenant_id=tenant_id).values_list("pk", flat=True))


def sites(*, tenant_id: int) -> list[SiteRef]:
    """The tenant's active sites, by code."""
    return [
        SiteRef(id=site.pk, code=site.code, name=site.name, timezone=site.timezone)
        for site in selectors.sites(tenant_id=tenant_id).filter(is_active=True)
    ]


def get_tenant(*, tenant_id: int | None = None, slug: str | None = None) -> TenantRef:
    """The tenant with this ID or slug. Raises NotFound."""
    return selectors.get_tenant_ref(tenant_id=tenant_id, slug=slug)


# Rows of this app's read views (selectors.READ_VIEWS) for edges that read in bulk (the FHIR
# API): ``read_rows(view=..., query=clinic.rows.RowQuery(...))`` and ``count_rows``.
_published = Publisher(selectors.READ_VIEWS)
read_rows = _published.read_rows
count_rows = _published.count_rows


def principal_for_token(token: str) -> Principal | None:
    """The principal of the active API client holding this bearer token (in an active tenant),
    or None. Records the client's use (at most once a minute)."""
    client = selectors.client_for_token(token)
    if client is None:
        return None
    services.touch_api_client(client_id=client.pk)
    return selectors.client_principal(client)


def memberships_of(*, user_id: int) -> list[MembershipRef]:
    """The user's roles in active tenants, by tenant name (a user of several chooses one)."""
    return selectors.memberships_of(user_id=user_id)


def user_principal(*, user_id: int, username: str, tenant_id: int | None = None) -> Principal | None:
    """The principal of a staff user acting in ``tenant_id`` (or in their only tenant when None).
    None when they are no member of it (or of any active tenant). Raises AmbiguousTenant when
    ``tenant_id`` is None and they belong to several."""
    return selectors.user_principal(user_id=user_id, username=username, tenant_id=tenant_id)
