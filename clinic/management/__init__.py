"""Management commands of the kernel, and what they share."""

from __future__ import annotations

from django.core.management.base import CommandError

from clinic.contracts import DomainError, InvalidInput


def command_error(exc: DomainError) -> CommandError:
    """A domain error as a CommandError whose message lists each bad field on its own line."""
    problems = exc.problems if isinstance(exc, InvalidInput) else []
    return CommandError(exc.message + "".join(f"\n  {p.field}: {p.message}" for p in problems))
