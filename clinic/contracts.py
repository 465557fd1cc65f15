"""Public plain data of the kernel: roles, scopes, events, and the base domain errors.

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


class Role(enum.StrEnum):
    """What a staff member does in a tenant (Membership.role)."""

    CLINICIAN = "clinician"
    FRONT_DESK = "front_desk"
    ADMIN = "admin"


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


# --- Errors -------------------------------------------------------------------------------------
# Domain code raises subclasses of these, defined next to the service that raises them. The HTTP
# edge maps each family to one status (problem JSON for the REST API, OperationOutcome for FHIR).


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    message: str


class DomainError(Exception):
    """Base of every error a service raises on purpose. ``code`` is stable for integrators."""

    code = "domain-error"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Extension members of the problem document (e.g. the patients a conflict names).
        self.extra = extra or {}

    def describe(self, separator: str = "\n  ") -> str:
        """The message for a person reading a terminal or an admin page (not the API)."""
        return self.message


class NotFound(DomainError):
    """The object does not exist for this tenant (another tenant's object does not exist)."""

    code = "not-found"


class Conflict(DomainError):
    """The request conflicts with the current state (a duplicate, a taken slot...)."""

    code = "conflict"


class InvalidInput(DomainError):
    """The request is well-formed but its values are not acceptable."""

    code = "invalid"

    def __init__(
        self, message: str, problems: list[FieldProblem] | None = None, *, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, extra=extra)
        self.problems = problems or []

    def describe(self, separator: str = "\n  ") -> str:
        """The message, then each bad field after ``separator``."""
        return self.message + "".join(f"{separator}{p.field}: {p.message}" for p in self.problems)


class NotPermitted(DomainError):
    """The caller is authenticated but may not do this."""

    code = "forbidden"


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
