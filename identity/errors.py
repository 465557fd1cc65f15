"""The exceptions identity raises (public: re-exported by ``identity.facade``).

Each derives from a kernel family (``clinic.contracts``), which the HTTP edges map to one status:
NotFound 404, Conflict 409, InvalidInput 422. ``code`` is stable for integrators. No Django
imports.
"""

from __future__ import annotations

from clinic.contracts import Conflict, InvalidInput, NotFound

__all__ = [
    "IdentifierConflict",
    "IdentifierSystemConflict",
    "InvalidMerge",
    "InvalidPatient",
    "MergeConflict",
    "NotMerged",
    "PatientNotFound",
    "ProbableDuplicate",
]


class PatientNotFound(NotFound):
    """No such patient in this tenant (another tenant's patient does not exist)."""

    code = "patient-not-found"


class IdentifierConflict(Conflict):
    """The identifiers of one request are held by two (or more) different patients."""

    code = "identifier-conflict"


class ProbableDuplicate(Conflict):
    """No identifier matched, but the demographics match an existing patient closely."""

    code = "probable-duplicate"


class IdentifierSystemConflict(Conflict):
    """Another identifier system of the tenant already has this HL7 v2 assigning authority."""


class InvalidPatient(InvalidInput):
    """The patient's details are not acceptable (each bad field is named)."""

    code = "invalid-patient"


class InvalidMerge(InvalidInput):
    """A merge that can never be done: into itself, or without a reason."""

    code = "invalid-merge"


class MergeConflict(Conflict):
    """A merge (or unmerge) that the current state refuses: the source was merged elsewhere, a
    guard of another app objects, the target was merged since."""

    code = "merge-conflict"


class NotMerged(Conflict):
    """An unmerge of a patient that is not merged into another."""

    code = "not-merged"
