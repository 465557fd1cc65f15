"""Public functions of identity: other apps call only these, and read ``identity.contracts`` (the
plain data they take and return) and the exceptions re-exported here from ``identity.errors``.

The writes here are steps of the caller's use case: they join the caller's transaction (and open
their own only when there is none), so they commit with the caller's rows. Only delegation here:
queries live in ``selectors``, writes in ``services``."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from django.db.models import Model

from clinic.rows import Publisher
from identity import matching, normalise, references, selectors, services
from identity.contracts import (
    Demographics,
    IdentifierInput,
    MatchCandidate,
    MergeOutcome,
    PatientRecord,
    Registration,
    UnmergeOutcome,
)
from identity.errors import (
    IdentifierConflict,
    IdentifierSystemConflict,
    InvalidMerge,
    InvalidPatient,
    MergeConflict,
    NotMerged,
    PatientNotFound,
    ProbableDuplicate,
)

__all__ = [
    # errors (identity.errors)
    "IdentifierConflict",
    "IdentifierSystemConflict",
    "InvalidMerge",
    "InvalidPatient",
    "MergeConflict",
    "NotMerged",
    "PatientNotFound",
    "ProbableDuplicate",
    # functions
    "count_rows",
    "ensure_identifier_system",
    "find_patient_by_identifier",
    "find_patients",
    "get_patient",
    "get_patients",
    "identifier_system_uris",
    "lock_patient_for_write",
    "match_patients",
    "merge_patients",
    "name_search_key",
    "patients_by_v2_identifiers",
    "read_rows",
    "register_merge_guard",
    "register_patient",
    "register_patient_reference",
    "resolve_patient_id",
    "search_patients",
    "unmerge_patient",
    "update_demographics",
]


def register_patient(
    *,
    tenant_id: int,
    identifiers: list[IdentifierInput],
    demographics: Demographics,
    confirm_new: bool = False,
    idempotency_key: str | None = None,
    actor: str,
) -> Registration:
    """Register idempotently (see ``identity.services.register_patient_in_transaction``), in the
    caller's transaction (its own when there is none): call it inside your use case's. Raises
    InvalidPatient, IdentifierConflict, ProbableDuplicate."""
    return services.register_patient_in_transaction(
        tenant_id=tenant_id,
        identifiers=identifiers,
        demographics=demographics,
        confirm_new=confirm_new,
        idempotency_key=idempotency_key,
        actor=actor,
    )


def get_patient(*, tenant_id: int, patient_id: UUID) -> PatientRecord:
    """Raises NotFound (also for another tenant's patient)."""
    return selectors.get_patient(tenant_id=tenant_id, patient_id=patient_id)


def get_patients(*, tenant_id: int, patient_ids: list[UUID]) -> dict[UUID, PatientRecord]:
    """The tenant's patients among ``patient_ids``, by ID (others are left out): one query."""
    return selectors.get_patients(tenant_id=tenant_id, patient_ids=patient_ids)


def resolve_patient_id(*, tenant_id: int, patient_id: UUID) -> UUID:
    """The surviving patient for ``patient_id`` (itself unless merged). Raises NotFound."""
    return selectors.survivor_id(tenant_id=tenant_id, patient_id=patient_id, must_exist=True)


def lock_patient_for_write(*, tenant_id: int, patient_id: UUID) -> UUID:
    """Call inside your transaction before writing a row that references a patient, and write
    it against the UUID returned (the survivor): a concurrent merge then cannot leave your row
    on the merged-away record. Raises NotFound."""
    return services.lock_patient_for_write(tenant_id=tenant_id, patient_id=patient_id)


def find_patient_by_identifier(*, tenant_id: int, system: str, value: str) -> PatientRecord | None:
    """The surviving patient holding this identifier (old identifiers of merged patients
    included), or None."""
    return selectors.find_patient_by_identifier(tenant_id=tenant_id, system=system, value=value)


def find_patients(*, tenant_id: int, text: str, birth_date: date | None = None, limit: int = 20) -> list[PatientRecord]:
    """A search box's patients: the holder of an identifier value (MRN, NHS number), else active
    patients whose names start with the words typed (either order), optionally born on
    ``birth_date``; by name, at most ``limit``."""
    return selectors.find_patients(tenant_id=tenant_id, text=text, birth_date=birth_date, limit=limit)


def search_patients(*, tenant_id: int, family: str, birth_date: date) -> list[PatientRecord]:
    """The tenant's patients (merged ones included) with this family name (compared normalised)
    and birth date."""
    return selectors.search_patients(tenant_id=tenant_id, family=family, birth_date=birth_date)


def match_patients(
    *, tenant_id: int, demographics: Demographics, identifiers: list[IdentifierInput] | None = None
) -> list[MatchCandidate]:
    return matching.match(tenant_id=tenant_id, demographics=demographics, identifiers=identifiers or [])


def merge_patients(*, tenant_id: int, source_id: UUID, target_id: UUID, reason: str, actor: str) -> MergeOutcome:
    """Merge ``source`` into ``target`` (see ``identity.services.merge_patients_in_transaction``),
    in the caller's transaction (its own when there is none). Raises PatientNotFound,
    InvalidMerge, MergeConflict."""
    return services.merge_patients_in_transaction(
        tenant_id=tenant_id, source_id=source_id, target_id=target_id, reason=reason, actor=actor
    )


def unmerge_patient(*, tenant_id: int, source_id: UUID, reason: str, actor: str) -> UnmergeOutcome:
    """Undo the live merge of ``source`` (see ``identity.services.unmerge_patient_in_transaction``),
    in the caller's transaction (its own when there is none). Raises PatientNotFound, NotMerged,
    MergeConflict."""
    return services.unmerge_patient_in_transaction(tenant_id=tenant_id, source_id=source_id, reason=reason, actor=actor)


def register_merge_guard(guard: references.MergeGuard) -> None:
    """Add a check run before every merge, with both patients locked: ``guard(tenant_id,
    source_id, target_id)`` returns why the merge must not happen now, or None. A refused merge
    answers 409 with the reasons."""
    references.register_merge_guard(guard)


def register_patient_reference(
    model: type[Model], *, field: str = "patient", created_field: str | None = "created_at"
) -> None:
    """Declare that ``model.field`` references a patient, so merges re-point it and unmerges
    return it. Call from your app's ``AppConfig.ready``; a test fails for any model that
    references ``identity.Patient`` without doing so."""
    references.register(model, field=field, created_field=created_field)


def patients_by_v2_identifiers(*, tenant_id: int, identifiers: list[tuple[str, str]]) -> dict[tuple[str, str], UUID]:
    """The surviving patient for each HL7 v2 identifier (CX-4 assigning authority, CX-1 value)
    the tenant knows; unknown authorities and values are left out."""
    return selectors.patients_by_v2_identifiers(tenant_id=tenant_id, identifiers=identifiers)


def update_demographics(*, tenant_id: int, patient_id: UUID, demographics: Demographics, actor: str) -> PatientRecord:
    """Update a patient's demographics in the caller's transaction (see
    ``identity.services.update_demographics``). Raises PatientNotFound, InvalidPatient."""
    return services.update_demographics(
        tenant_id=tenant_id, patient_id=patient_id, demographics=demographics, actor=actor
    )


def ensure_identifier_system(*, tenant_id: int, uri: str, name: str, assigning_authority: str, pattern: str) -> None:
    """Make sure the tenant accepts identifiers of system ``uri`` (HL7 v2 assigning authority
    ``assigning_authority``, values matching ``pattern``), not authoritative, for an edge that
    brings in another system's patients under that system's own IDs. Idempotent: an existing
    system with this URI is kept as the tenant configured it. The systems of the tenant's
    policy are seeded first (as a first registration would). Raises Conflict when another
    system of the tenant has this assigning authority."""
    services.ensure_identifier_system(
        tenant_id=tenant_id, uri=uri, name=name, assigning_authority=assigning_authority, pattern=pattern
    )


def identifier_system_uris(*, tenant_id: int) -> dict[str, str]:
    """The tenant's identifier system URIs by HL7 v2 assigning authority (CX-4)."""
    return selectors.identifier_system_uris(tenant_id=tenant_id)


# Rows of this app's read views (selectors.READ_VIEWS) for edges that read in bulk (the FHIR
# API): ``read_rows(view=..., query=clinic.rows.RowQuery(...))`` and ``count_rows``.
_published = Publisher(selectors.READ_VIEWS)
read_rows = _published.read_rows
count_rows = _published.count_rows


def name_search_key(text: str) -> str:
    """The normalised form names are searched by (lower case; no accents, punctuation or
    spaces): ``family_key``/``given_key`` of the patient read view start with it."""
    return normalise.name_key(text)
