"""Who else stores patient references, and how a merge re-points them.

Every app whose models point at a patient registers each such field here (through
``identity.facade.register_patient_reference``, from its ``AppConfig.ready``). A merge then
moves those rows from the source to the target and records each one in the merge ledger;
unmerge moves them back. ``tests/identity/test_references.py`` fails when a model references
``identity.Patient`` without being registered, so a new app cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Model


@dataclass(frozen=True, slots=True)
class PatientReference:
    model: type[Model]
    field: str  # the ForeignKey to identity.Patient
    created_field: str | None = "created_at"  # to list rows made on the target after a merge

    @property
    def label(self) -> str:
        return self.model._meta.label


_references: dict[tuple[str, str], PatientReference] = {}


def register(model: type[Model], *, field: str = "patient", created_field: str | None = "created_at") -> None:
    model._meta.get_field(field)  # fail at start-up on a typo, not during a merge
    if created_field is not None:
        model._meta.get_field(created_field)
    reference = PatientReference(model=model, field=field, created_field=created_field)
    _references[(reference.label, field)] = reference


def registered() -> list[PatientReference]:
    return sorted(_references.values(), key=lambda r: (r.label, r.field))


# Checks an app runs before a merge: each returns the reason the merge must not happen (it
# would break that app's rules, e.g. two visits in progress at one site), or None.
MergeGuard = Callable[[int, UUID, UUID], "str | None"]
_merge_guards: list[MergeGuard] = []


def register_merge_guard(guard: MergeGuard) -> None:
    if guard not in _merge_guards:
        _merge_guards.append(guard)


def merge_refusals(tenant_id: int, source_id: UUID, target_id: UUID) -> list[str]:
    return [reason for guard in _merge_guards if (reason := guard(tenant_id, source_id, target_id))]
