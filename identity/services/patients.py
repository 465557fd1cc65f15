"""Writing against an existing patient: the share lock every clinical write takes, and the
demographic updates a feed sends.

Publishes ``patient.updated`` → ``{"patient_id", "changed": [field, ...], "by"}``.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from django.db import connection, transaction

from clinic.facade import publish
from identity import selectors, sql
from identity.contracts import Demographics, Gender, PatientRecord, PatientUpdated
from identity.errors import PatientNotFound
from identity.models import Patient
from identity.services.registration import validate

logger = logging.getLogger("identity")


def lock_patient_for_write(*, tenant_id: int, patient_id: UUID) -> UUID:
    """The patient to write a clinical row against: ``patient_id``'s survivor, share-locked until
    the caller's transaction ends.

    A merge takes the same rows FOR UPDATE, so it either finished before (and we follow its
    ``replaced-by`` link) or waits until the caller commits (and then re-points the caller's new
    rows with the rest). Without it, a row inserted during a merge could land on the merged-away
    record. Raises PatientNotFound.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("lock_patient_for_write must run inside the transaction that writes the rows")
    current = patient_id
    from clinic.db import prepared_cursor

    for _ in range(selectors.MAX_MERGE_CHAIN):
        with prepared_cursor() as cursor:
            cursor.execute(sql.LOCK_PATIENT_FOR_WRITE, [tenant_id, current])
            row = cursor.fetchone()
        if row is None:
            raise PatientNotFound("No such patient.")
        if row[0] is None:
            return current
        current = row[0]
    raise PatientNotFound("No such patient.")


def update_demographics(*, tenant_id: int, patient_id: UUID, demographics: Demographics, actor: str) -> PatientRecord:
    """Replace the demographics a feed sends (an ADT^A08): name, birth date, gender, and telecom
    and address when given. Applies to the survivor of ``patient_id``. Publishes
    ``patient.updated`` when anything changed; nothing is written otherwise.

    Raises PatientNotFound, InvalidPatient."""
    validate(tenant_id, [], demographics, {})
    with transaction.atomic(savepoint=False):
        survivor = lock_patient_for_write(tenant_id=tenant_id, patient_id=patient_id)
        patient = Patient.objects.select_for_update().get(tenant_id=tenant_id, pk=survivor)
        name = demographics.name
        assert name is not None  # validated
        wanted: dict[str, Any] = {
            "family": name.family.strip(),
            "given": [g.strip() for g in name.given],
            "birth_date": demographics.birth_date,
            "gender": (demographics.gender or Gender.UNKNOWN).value,
        }
        if demographics.telecom:
            wanted["telecom"] = [
                {"system": t.system, "value": t.value, **({"use": t.use} if t.use else {})}
                for t in demographics.telecom
            ]
        if demographics.address:
            wanted["address"] = list(demographics.address)
        changed = sorted(k for k, v in wanted.items() if getattr(patient, k) != v)
        if changed:
            for key in changed:
                setattr(patient, key, wanted[key])
            patient.version += 1  # the row is locked: no lost update
            patient.save(update_fields=[*changed, "version", "updated_at"])
            publish(
                payload=PatientUpdated(patient_id=patient.pk, changed=tuple(changed), by=actor),
                tenant_id=tenant_id,
                patient_id=patient.pk,
            )
            logger.info("patient.updated tenant=%s patient=%s fields=%s", tenant_id, patient.pk, len(changed))
    return selectors.get_patient(tenant_id=tenant_id, patient_id=survivor)
