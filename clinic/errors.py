"""The kernel's exceptions: the base families every app's errors derive from, and the kernel's own.

No Django imports: these cross app boundaries. The families (also importable from
``clinic.contracts``, and re-exported by ``clinic.facade``) map to one HTTP status each at the
edge (problem JSON for the REST API, OperationOutcome for FHIR): NotFound 404, Conflict 409,
InvalidInput 422, NotPermitted 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- The families ---------------------------------------------------------------------------------


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


# --- Tenancy and API clients ----------------------------------------------------------------------


class TenantAlreadyExists(Conflict):
    code = "tenant-exists"


class TenantNotFound(NotFound):
    code = "tenant-not-found"


class PolicyTemplateNotFound(NotFound):
    code = "policy-template-not-found"


class SiteCodeTaken(Conflict):
    code = "site-code-taken"


class ApiClientNameTaken(Conflict):
    code = "api-client-name-taken"


class InvalidScopes(InvalidInput):
    code = "invalid-scopes"


class AmbiguousTenant(Exception):
    """The user belongs to several tenants and the request did not say which one."""


# --- Idempotency keys -----------------------------------------------------------------------------


class IdempotencyKeyInvalid(InvalidInput):
    code = "idempotency-key-invalid"


class IdempotencyKeyReused(InvalidInput):
    """The key was first used with a different request (draft-ietf-httpapi-idempotency-key-header
    section 2.7: answer 422)."""

    code = "idempotency-key-reused"


# --- Event outbox ---------------------------------------------------------------------------------


class InvalidEvent(InvalidInput):
    """An event's type or payload does not match its contract (publishing it, or reading it)."""

    code = "invalid-event"


class UnknownEventType(InvalidEvent):
    """No payload contract is registered for the event type (a programming error: its producer
    registers one at startup)."""

    code = "unknown-event-type"


class InvalidEventContract(ValueError):
    """An event payload contract is malformed, or a second one was registered for a type (a
    programming error)."""


class PublishOutsideTransaction(RuntimeError):
    """``publish`` (or ``claim_idempotency_key``) was called in autocommit mode: the event would
    not share the fate of the change it describes. Wrap the use case in ``transaction.atomic``."""


class DuplicateSubscriber(Exception):
    """Two different handlers were registered under one subscriber name (a programming error)."""


# --- Feature flags --------------------------------------------------------------------------------


class UnknownFlag(KeyError):
    """A flag was read that no app declared (a programming error: declare it in the owning app's
    ``flags.py``)."""


class InvalidFlag(ValueError):
    """A flag declaration is malformed, or a second declaration of a name differs from the first
    (a programming error)."""


# --- Demo steps -----------------------------------------------------------------------------------


class InvalidDemoStep(ValueError):
    """A demo step's registration is malformed, or a second one under a name differs from the
    first (a programming error)."""
