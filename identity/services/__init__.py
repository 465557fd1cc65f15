"""Identity writes: seed identifier systems, register (idempotently), merge and unmerge.

One module per concern: ``systems`` (identifier systems), ``registration``, ``patients`` (the
share lock of clinical writes, demographic updates), ``merging`` (merge and unmerge). Callers
use the names this package exports.

Every function is keyword-only; the exceptions it raises are in ``identity.errors``.

Transactions: a use case that an edge of identity calls (the REST API, the admin) owns its
transaction: ``register_patient``, ``merge_patients`` and ``unmerge_patient`` open
``transaction.atomic(durable=True)``, so they commit when they return. Each wraps a step of the
same name ending in ``_in_transaction``, which runs in the caller's transaction
(``atomic(savepoint=False)``; its own when there is none): the facade offers the steps, so that
another app's use case (an HL7 intake, the Synthea loader) commits a registration or a merge
together with its own rows. Functions without a twin are steps.

Events published: ``patient.registered``, ``patient.updated``, ``patient.merged`` and
``patient.unmerged``, with the payloads of ``identity.contracts`` (docs/events.md lists them).
"""

from __future__ import annotations

from identity.services.merging import (
    merge_patients,
    merge_patients_in_transaction,
    unmerge_patient,
    unmerge_patient_in_transaction,
)
from identity.services.patients import lock_patient_for_write, update_demographics
from identity.services.registration import register_patient, register_patient_in_transaction
from identity.services.systems import ensure_identifier_system, ensure_identifier_systems, identifier_systems

__all__ = [
    "ensure_identifier_system",
    "ensure_identifier_systems",
    "identifier_systems",
    "lock_patient_for_write",
    "merge_patients",
    "merge_patients_in_transaction",
    "register_patient",
    "register_patient_in_transaction",
    "unmerge_patient",
    "unmerge_patient_in_transaction",
    "update_demographics",
]
