"""Registration: idempotent, by identifier, with look-alikes reported rather than duplicated.

Publishes ``patient.registered`` → ``{"patient_id", "by"}``.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinic.contracts import FieldProblem
from clinic.facade import claim_idempotency_key, complete_idempotency_key, publish
from identity import matching, selectors, serialise, sql
from identity.contracts import (
    Demographics,
    Gender,
    IdentifierInput,
    IdentifierUse,
    MatchGrade,
    PatientRecord,
    PatientRegistered,
    Registration,
)
from identity.errors import IdentifierConflict, InvalidPatient, ProbableDuplicate
from identity.identifiers import normalise_identifier_value
from identity.models import IdentifierSystem, Patient, PatientIdentifier
from identity.normalise import name_key
from identity.services.systems import systems_by_uri

logger = logging.getLogger("identity")

EARLIEST_BIRTH_DATE = date(1880, 1, 1)


def validate(
    tenant_id: int, identifiers: list[IdentifierInput], demographics: Demographics, systems: dict[str, IdentifierSystem]
) -> list[tuple[IdentifierSystem, str, IdentifierUse]]:
    problems: list[FieldProblem] = []
    checked: list[tuple[IdentifierSystem, str, IdentifierUse]] = []
    seen: dict[str, str] = {}
    for index, ident in enumerate(identifiers):
        system = systems.get(ident.system)
        if system is None:
            known = ", ".join(sorted(systems))
            problems.append(
                FieldProblem(
                    f"identifiers[{index}].system", f"unknown identifier system {ident.system!r} (known: {known})"
                )
            )
            continue
        value, error = normalise_identifier_value(system, ident.value)
        if error:
            problems.append(FieldProblem(f"identifiers[{index}].value", error))
            continue
        if ident.use == IdentifierUse.OLD:
            problems.append(FieldProblem(f"identifiers[{index}].use", "'old' is set by merges, not at registration"))
            continue
        if system.uri in seen and seen[system.uri] != value:
            problems.append(FieldProblem(f"identifiers[{index}]", f"a second, different value for {system.uri}"))
            continue
        if system.uri not in seen:
            seen[system.uri] = value
            default_use = IdentifierUse.OFFICIAL if system.authoritative else IdentifierUse.USUAL
            checked.append((system, value, ident.use or default_use))
    name = demographics.name
    if name is None or not name.family.strip():
        problems.append(FieldProblem("name.family", "a family name is required"))
    if name is not None and any(not g.strip() for g in name.given):
        problems.append(FieldProblem("name.given", "given names must not be blank"))
    if demographics.birth_date is not None:
        if demographics.birth_date > timezone.localdate():
            problems.append(FieldProblem("birth_date", "is in the future"))
        elif demographics.birth_date < EARLIEST_BIRTH_DATE:
            problems.append(FieldProblem("birth_date", f"is before {EARLIEST_BIRTH_DATE.isoformat()}"))
    if problems:
        raise InvalidPatient("The patient is not valid.", problems)
    return checked


def _holders(tenant_id: int, checked: list[tuple[IdentifierSystem, str, IdentifierUse]]) -> list[UUID]:
    """Surviving patients that hold any of these identifiers (a merged holder resolves to its
    survivor), in a stable order."""
    if not checked:
        return []
    from django.db.models import Q

    query = Q()
    for system, value, _use in checked:
        query |= Q(system_id=system.pk, value=value)
    holders = (
        PatientIdentifier.objects.filter(query, tenant_id=tenant_id)
        .order_by()
        .values_list("patient_id", "patient__replaced_by_id")
    )
    survivors = {
        pid if replaced_by is None else selectors.survivor_id(tenant_id=tenant_id, patient_id=replaced_by)
        for pid, replaced_by in holders
    }
    return sorted(survivors, key=str)


def register_patient(
    *,
    tenant_id: int,
    identifiers: list[IdentifierInput],
    demographics: Demographics,
    confirm_new: bool = False,
    idempotency_key: str | None = None,
    actor: str,
) -> Registration:
    """The use case of ``register_patient_in_transaction``, in a transaction of its own."""
    with transaction.atomic(durable=True):
        return register_patient_in_transaction(
            tenant_id=tenant_id,
            identifiers=identifiers,
            demographics=demographics,
            confirm_new=confirm_new,
            idempotency_key=idempotency_key,
            actor=actor,
        )


def register_patient_in_transaction(
    *,
    tenant_id: int,
    identifiers: list[IdentifierInput],
    demographics: Demographics,
    confirm_new: bool = False,
    idempotency_key: str | None = None,
    actor: str,
) -> Registration:
    """Register a patient, or find the one these identifiers already belong to, in the caller's
    transaction.

    - An identifier already held: that patient (``created=False``), nothing written.
    - Identifiers held by different patients: IdentifierConflict naming them.
    - No identifier held, demographics matching a patient at grade certain or probable:
      ProbableDuplicate with the candidates, unless ``confirm_new``.
    - Otherwise a new patient, with a minted MRN if none was given, and ``patient.registered``.

    Concurrent registrations of one identifier make one patient: the unique constraint on
    identifiers decides, and the losers return the winner. ``idempotency_key`` makes a
    registration without identifiers safe to retry. Raises InvalidPatient naming each bad field.
    """
    systems = systems_by_uri(tenant_id)
    checked = validate(tenant_id, identifiers, demographics, systems)
    minting = next((s for s in systems.values() if s.mints), None)
    request = {
        "identifiers": [(s.uri, v, u.value) for s, v, u in checked],
        "demographics": _demographics_json(demographics),
        "confirm_new": confirm_new,
    }
    # No savepoint of its own: the caller's transaction is the use case (``register_patient``, an
    # HL7 intake's). The insert below has the savepoint it needs.
    with transaction.atomic(savepoint=False):
        if idempotency_key is not None:
            replay = claim_idempotency_key(
                tenant_id=tenant_id, scope="identity.register_patient", key=idempotency_key, request=request
            )
            if replay is not None:
                patient_id = selectors.survivor_id(tenant_id=tenant_id, patient_id=UUID(replay.result["patient_id"]))
                return Registration(
                    patient=selectors.get_patient(tenant_id=tenant_id, patient_id=patient_id),
                    created=bool(replay.result["created"]),
                )
        registration = _register(tenant_id, checked, demographics, minting, confirm_new=confirm_new, actor=actor)
        if idempotency_key is not None:
            complete_idempotency_key(
                tenant_id=tenant_id,
                scope="identity.register_patient",
                key=idempotency_key,
                result={"patient_id": str(registration.patient.id), "created": registration.created},
            )
    return registration


def _register(
    tenant_id: int,
    checked: list[tuple[IdentifierSystem, str, IdentifierUse]],
    demographics: Demographics,
    minting: IdentifierSystem | None,
    *,
    confirm_new: bool,
    actor: str,
) -> Registration:
    if not checked:
        # Nothing unique to decide on: registrations of the same person without identifiers (a
        # double-click at the front desk) take turns, so the second sees the first's
        # demographics and answers "probable duplicate".
        _lock_demographics(tenant_id, demographics)
    holders = _holders(tenant_id, checked)
    if len(holders) > 1:
        raise _conflict(holders, checked)
    if holders:
        return Registration(patient=selectors.get_patient(tenant_id=tenant_id, patient_id=holders[0]), created=False)
    if not confirm_new:
        candidates = [
            c
            for c in matching.match(tenant_id=tenant_id, demographics=demographics, identifiers=[])
            if c.grade in (MatchGrade.CERTAIN, MatchGrade.PROBABLE)
        ]
        if candidates and checked:
            # The look-alike may be a concurrent registration of these very identifiers that
            # committed after we looked: then it is this patient, not a duplicate.
            holders = _holders(tenant_id, checked)
            if len(holders) > 1:
                raise _conflict(holders, checked)
            if holders:
                return Registration(
                    patient=selectors.get_patient(tenant_id=tenant_id, patient_id=holders[0]), created=False
                )
        if candidates:
            raise ProbableDuplicate(
                'A patient with matching details exists. Link to them, or repeat with "confirm_new": true.',
                extra={"candidates": [serialise.candidate_json(c) for c in candidates]},
            )
    for _attempt in range(5):
        try:
            with transaction.atomic():
                record = _create(tenant_id, checked, demographics, minting, actor=actor)
        except IntegrityError:
            # Another registration committed one of these identifiers first (we waited for it
            # on the unique index): return its patient. If none of the requested identifiers is
            # held, the conflict was a minted MRN someone took by hand: mint another.
            holders = _holders(tenant_id, checked)
            if len(holders) > 1:
                raise _conflict(holders, checked) from None
            if holders:
                return Registration(
                    patient=selectors.get_patient(tenant_id=tenant_id, patient_id=holders[0]), created=False
                )
            continue
        return Registration(patient=record, created=True)
    raise RuntimeError("could not mint a free MRN after 5 attempts")


def _conflict(holders: list[UUID], checked: list[tuple[IdentifierSystem, str, IdentifierUse]]) -> IdentifierConflict:
    return IdentifierConflict(
        f"These identifiers belong to {len(holders)} different patients: " + ", ".join(str(h) for h in holders) + ".",
        extra={
            "patients": [str(h) for h in holders],
            "identifiers": [{"system": s.uri, "value": v} for s, v, _u in checked],
        },
    )


def _create(
    tenant_id: int,
    checked: list[tuple[IdentifierSystem, str, IdentifierUse]],
    demographics: Demographics,
    minting: IdentifierSystem | None,
    *,
    actor: str,
) -> PatientRecord:
    name = demographics.name
    assert name is not None  # validated
    patient = Patient.objects.create(
        tenant_id=tenant_id,
        family=name.family.strip(),
        given=[g.strip() for g in name.given],
        other_names=[_name_json(n) for n in demographics.other_names],
        birth_date=demographics.birth_date,
        gender=(demographics.gender or Gender.UNKNOWN).value,
        telecom=[
            {"system": t.system, "value": t.value, **({"use": t.use} if t.use else {})} for t in demographics.telecom
        ],
        address=list(demographics.address),
    )
    rows = [
        PatientIdentifier(tenant_id=tenant_id, patient=patient, system=system, value=value, use=use.value)
        for system, value, use in checked
    ]
    if minting is not None and all(system.pk != minting.pk for system, _v, _u in checked):
        rows.append(
            PatientIdentifier(
                tenant_id=tenant_id, patient=patient, system=minting, value=_mint_mrn(), use=IdentifierUse.OFFICIAL
            )
        )
    # A fixed order: two registrations inserting the same identifiers in opposite orders would
    # otherwise wait for each other on the unique index (a deadlock).
    rows.sort(key=lambda row: (row.system_id, row.value))
    PatientIdentifier.objects.bulk_create(rows)
    publish(payload=PatientRegistered(patient_id=patient.pk, by=actor), tenant_id=tenant_id, patient_id=patient.pk)
    logger.info("patient.registered tenant=%s patient=%s", tenant_id, patient.pk)
    # The record from what was just written: no need to read it back.
    systems = {system.pk: system for system, _v, _u in checked}
    if minting is not None:
        systems[minting.pk] = minting
    return selectors.to_record(patient, identifiers=[(systems[row.system_id], row) for row in rows], replaces=[])


def _lock_demographics(tenant_id: int, demographics: Demographics) -> None:
    """A transaction-scoped advisory lock on (tenant, family name key, birth date)."""
    name = demographics.name
    key = f"identity.register|{tenant_id}|{name_key(name.family) if name else ''}|{demographics.birth_date}"
    lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute(sql.LOCK_DEMOGRAPHICS, [lock_id])


def _mint_mrn() -> str:
    with connection.cursor() as cursor:
        cursor.execute(sql.NEXT_MRN)
        (number,) = cursor.fetchone()
    return f"M{number:09d}"


def _name_json(name: Any) -> dict[str, Any]:
    return {"use": name.use, "family": name.family, "given": list(name.given)}


def _demographics_json(demographics: Demographics) -> dict[str, Any]:
    return {
        "name": _name_json(demographics.name) if demographics.name else None,
        "birth_date": demographics.birth_date.isoformat() if demographics.birth_date else None,
        "gender": demographics.gender.value if demographics.gender else None,
        "telecom": [[t.system, t.value, t.use] for t in demographics.telecom],
        "address": list(demographics.address),
        "other_names": [_name_json(n) for n in demographics.other_names],
    }
