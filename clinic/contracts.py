"""Public plain data of the kernel: roles, scopes, events, policy sections (and, re-exported from
``clinic.errors``, the base domain errors).

No Django imports here (import-linter enforces it): these types cross app boundaries and reach
tasks, handlers and the HTTP edge unchanged.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

# The families of domain errors live in ``clinic.errors`` (with the kernel's own errors); they stay
# importable from here, where every app has found them. Each app defines the errors it raises in
# its own ``errors.py``, as subclasses of these.
from clinic.errors import Conflict as Conflict
from clinic.errors import DomainError as DomainError
from clinic.errors import FieldProblem as FieldProblem
from clinic.errors import InvalidInput as InvalidInput
from clinic.errors import NotFound as NotFound
from clinic.errors import NotPermitted as NotPermitted


class Role(enum.StrEnum):
    """What a staff member does in a tenant (Membership.role)."""

    CLINICIAN = "clinician"
    FRONT_DESK = "front_desk"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        """How a person reads it: "Front desk"."""
        return self.value.replace("_", " ").capitalize()


# Where a signed-in user's chosen tenant is kept in their session (the web app sets it; the REST
# API acts in it for session users).
SESSION_TENANT_KEY = "clinic_tenant_id"


class Scope(enum.StrEnum):
    """Scopes an API client may hold. SMART-style ``system/<Resource>.read`` scopes for the
    FHIR API are accepted too (see ``is_valid_scope``)."""

    API_READ = "api:read"
    API_WRITE = "api:write"
    TENANT_ADMIN = "tenant:admin"
    HL7_SUBMIT = "hl7:submit"


DEFAULT_CLIENT_SCOPES: tuple[str, ...] = (Scope.API_READ, Scope.API_WRITE)

# SMART App Launch v1 system scopes: system/<ResourceType or *>.<read|write|*>
_SMART_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$")


def is_valid_scope(scope: str) -> bool:
    return scope in {s.value for s in Scope} or bool(_SMART_SCOPE.match(scope))


@dataclass(frozen=True, slots=True)
class TenantRef:
    """The tenant a request or task acts for."""

    id: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class SiteRef:
    """A place of a tenant, with the time zone its days are counted in."""

    id: int
    code: str
    name: str
    timezone: str


@dataclass(frozen=True, slots=True)
class MembershipRef:
    """A staff user's role in one (active) tenant."""

    tenant: TenantRef
    role: Role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a staff user (with their role) or an API client (with its scopes)."""

    tenant: TenantRef
    kind: str  # "user" or "client"
    id: str
    name: str
    role: Role | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """How audit fields and events name this principal: ``user:<id>`` or ``client:<id>``."""
        return f"{self.kind}:{self.id}"

    def has_scope(self, scope: str) -> bool:
        if self.kind == "user":
            # Staff act through the UI and API with their role's rights, not scopes.
            if scope == Scope.TENANT_ADMIN:
                return self.role is Role.ADMIN
            return True
        return scope in self.scopes


# --- Events -------------------------------------------------------------------------------------

EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True, slots=True)
class Event:
    """A committed clinical or platform event, as subscribers receive it.

    ``payload`` is the JSON object stored in the outbox, written by version ``payload_version``
    of the event type's contract: read it through the contract
    (``clinic.facade.payload_of(event, OrderPlaced)`` or ``decode_event``), never by its keys.
    """

    id: UUID
    type: str
    tenant_id: int
    payload: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    patient_id: UUID | None = None
    encounter_id: UUID | None = None
    payload_version: int = 1


@dataclass(frozen=True, slots=True)
class TimelineLine:
    """How an event reads on an encounter's timeline: what happened, and what it refers to
    (``order:<id>``, ``report:<id>``...). No patient names or identifiers."""

    summary: str
    reference: str = ""


def described(meaning: str, **options: Any) -> Any:
    """A payload field that says what it means (the event catalogue, docs/events.md, prints it);
    ``options`` are ``dataclasses.field``'s (``default=None``)::

        order_id: UUID = described("the order (ServiceRequest)")
    """
    return field(metadata={"meaning": meaning}, **options)


@dataclass(frozen=True, slots=True)
class EventPayload:
    """The typed payload of one event type: the contract between its producer and its consumers.

    Each event type has one subclass, a frozen dataclass in its producer's ``contracts.py``,
    registered by the producer at startup (``clinic.facade.register_event_types`` in its
    ``AppConfig.ready``). ``publish`` takes an instance; consumers get it back from an Event with
    ``clinic.facade.payload_of`` / ``decode_event``. Fields use the types ``clinic.payloads``
    stores (UUID, datetime, Decimal, enums, tuples, nested dataclasses, ``X | None``...).

    ``event_version`` is the version of the payload's shape. Changing the shape (renaming,
    removing or retyping a field, adding one without a default) makes a new version: bump it and
    override ``upgrade`` to turn a payload stored by the previous version into the new one, so
    events already in the outbox keep reading (ADR 0011).
    """

    event_type: ClassVar[str]
    event_version: ClassVar[int] = 1

    def timeline(self) -> TimelineLine | None:
        """How the event reads on an encounter timeline (its producer says); None for an event
        that does not go on one."""
        return None

    @classmethod
    def upgrade(cls, payload: dict[str, Any], version: int) -> dict[str, Any]:
        """The JSON object of a payload stored by ``version``, as version ``version + 1`` stores
        it (the registry applies it until the current version). Override it when bumping
        ``event_version``; by default there is no older version to read."""
        raise ValueError(f"{cls.event_type}: no version {version} to upgrade from (now {cls.event_version})")


TENANT_CREATED = "tenant.created"


@dataclass(frozen=True, slots=True)
class TenantCreated(EventPayload):
    """A tenant was created (its identifier systems and policy follow from it)."""

    event_type: ClassVar[str] = TENANT_CREATED

    slug: str = described("the tenant's slug")


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one delivery run of an event did, subscriber by subscriber."""

    event_id: UUID
    delivered: tuple[str, ...] = ()  # subscribers whose effect ran in this run
    already_delivered: tuple[str, ...] = ()  # subscribers that had run before (no-op now)
    failed: tuple[str, ...] = ()  # subscribers that raised; retried later

    @property
    def complete(self) -> bool:
        return not self.failed


IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces


@dataclass(frozen=True, slots=True)
class IdempotentReplay:
    """The stored outcome of the first request made with an Idempotency-Key."""

    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PolicySection:
    """A named part of the tenant policy with its defaults (registered by the app that owns it)."""

    name: str
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    closed: bool = False  # only the keys of ``defaults`` may be set (e.g. declared flag names)


# --- Feature flags ------------------------------------------------------------------------------

FLAG_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")  # <app label>.<flag>


class FlagSource(enum.StrEnum):
    """What decided a flag's value for a tenant, in order of precedence."""

    SWITCH = "global switch"  # a waffle Switch of the flag's name (an operator's override)
    OVERRIDE = "tenant override"  # the tenant's own policy overrides, section ``flags``
    TEMPLATE = "policy template"  # the tenant's policy template, section ``flags``
    DEFAULT = "default"  # the safe default the owning app declared


@dataclass(frozen=True, slots=True)
class FlagState:
    """A declared flag and its effective value for one tenant."""

    name: str
    description: str
    default: bool
    active: bool
    source: FlagSource
