"""The kernel's public functions. Other apps import only this module, ``clinic.contracts`` and
``clinic.errors`` (plus the kits: ``clinic.db`` and ``clinic.rows`` for models and read views,
``clinic.api`` for HTTP edges, ``clinic.admin`` for admin modules). Everything here takes and
returns plain data; the errors it raises are re-exported here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from clinic import demo, flags, outbox, policy, selectors, services
from clinic import events as event_registry
from clinic.contracts import (
    Event,
    EventPayload,
    FlagState,
    IdempotentReplay,
    MembershipRef,
    PolicySection,
    Principal,
    SiteRef,
    TenantRef,
    TimelineLine,
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
    UnknownEventType,
    UnknownFlag,
)
from clinic.rows import Publisher

P = TypeVar("P", bound=EventPayload)

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
    "UnknownEventType",
    "UnknownFlag",
    "claim_idempotency_key",
    "complete_idempotency_key",
    "count_rows",
    "decode_event",
    "define_flag",
    "demo_step",
    "describe_event",
    "effective_policy",
    "events",
    "flag_is_active",
    "flag_states",
    "get_tenant",
    "memberships_of",
    "payload_of",
    "principal_for_token",
    "publish",
    "read_rows",
    "register_event_types",
    "register_policy_section",
    "site_ids",
    "sites",
    "subscriber",
    "user_principal",
]


def publish(
    payload: EventPayload,
    *,
    tenant_id: int,
    patient_id: UUID | None = None,
    encounter_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Publish an event inside the current transaction; it is delivered after commit.

    ``payload`` is the event's typed payload: an ``EventPayload`` of the producer's contracts,
    registered with ``register_event_types`` (its class names the event type). Raises
    ``PublishOutsideTransaction`` outside ``transaction.atomic``, ``UnknownEventType`` for an
    unregistered type and ``InvalidEvent`` for a payload that does not match its contract.
    """
    return outbox.publish(
        payload,
        tenant_id=tenant_id,
        patient_id=patient_id,
        encounter_id=encounter_id,
        occurred_at=occurred_at,
    )


def register_event_types(*contracts: type[EventPayload]) -> None:
    """Register the payload contract of each event type an app publishes: the app's own
    ``EventPayload`` classes (from its ``contracts.py``), in its ``AppConfig.ready``. Then
    ``publish`` accepts them, and every consumer can read and describe those events without
    importing the producer.

    Raises InvalidEventContract for a malformed contract or a second one for a type.
    """
    for contract in contracts:
        event_registry.register_contract(contract)


def decode_event(event: Event) -> EventPayload:
    """The typed payload of an event, read with the registered contract of its type (payloads
    stored by an older version of the contract are upgraded). Raises InvalidEvent."""
    return event_registry.decode(event)


def payload_of(event: Event, contract: type[P]) -> P:
    """The typed payload of an event that the caller knows to be of ``contract``'s type (a
    handler subscribed to it). Raises InvalidEvent when it is not."""
    payload = event_registry.decode(event)
    if not isinstance(payload, contract):
        raise InvalidEvent(f"Event {event.id} is a {event.type!r}, not a {contract.__qualname__}.")
    return payload


def describe_event(event: Event) -> TimelineLine:
    """How the event reads on an encounter timeline, as its producer's contract says."""
    return event_registry.describe(event)


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


def demo_step(name: str, *, order: int) -> Callable[[demo.Seeder], demo.Seeder]:
    """Register the decorated function (in the app's ``demo.py``, imported at startup) as the
    app's step of ``seed_demo``: ``seed(*, tenant_id) -> lines to print``, idempotent, run in
    the command's transaction. ``order`` is the app's place in the layers, by tens (see
    ``clinic.demo``); ``name`` is ``<app label>.<what it seeds>``.

    Raises InvalidDemoStep for a malformed name or a second, different step of that name.
    """

    def decorate(seed: demo.Seeder) -> demo.Seeder:
        demo.register(name=name, order=order, seed=seed)
        return seed

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
