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
from typing import Any
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

TENANT_CREATED = "tenant.created"  # payload: {"slug": ...}

EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True, slots=True)
class Event:
    """A committed clinical or platform event, as subscribers receive it."""

    id: UUID
    type: str
    tenant_id: int
    payload: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    patient_id: UUID | None = None
    encounter_id: UUID | None = None


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
