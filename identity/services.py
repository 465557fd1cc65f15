"""Identity writes: seed identifier systems, register (idempotently), merge and unmerge.

Every function is keyword-only; the exceptions it raises are in ``identity.errors``.

Transactions: a use case that an edge of identity calls (the REST API, the admin) owns its
transaction: ``register_patient``, ``merge_patients`` and ``unmerge_patient`` open
``transaction.atomic(durable=True)``, so they commit when they return. Each wraps a step of the
same name ending in ``_in_transaction``, which runs in the caller's transaction
(``atomic(savepoint=False)``; its own when there is none): the facade offers the steps, so that
another app's use case (an HL7 intake, the Synthea loader) commits a registration or a merge
together with its own rows. Functions without a twin are steps.

Events published (type → payload):

- ``patient.registered`` → ``{"patient_id"}``
- ``patient.updated`` → ``{"patient_id", "changed": [field, ...], "by"}``
- ``patient.merged`` → ``{"merge_id", "source", "target", "reason", "moved": [{"model", "id", "field"}]}``
- ``patient.unmerged`` → ``{"merge_id", "source", "target", "returned": [...], "review": [...]}``
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Model, QuerySet
from django.utils import timezone

from clinic.contracts import FieldProblem
from clinic.facade import claim_idempotency_key, complete_idempotency_key, effective_policy, publish
from identity import matching, references, selectors, serialise, sql
from identity.contracts import (
    PATIENT_MERGED,
    PATIENT_REGISTERED,
    PATIENT_UNMERGED,
    PATIENT_UPDATED,
    Demographics,
    Gender,
    IdentifierInput,
    IdentifierUse,
    MatchGrade,
    MergeOutcome,
    MovedRow,
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
from identity.identifiers import normalise_identifier_value
from identity.models import IdentifierSystem, MergeLedgerEntry, MergeRecord, Patient, PatientIdentifier
from identity.normalise import name_key

logger = logging.getLogger("identity")

EARLIEST_BIRTH_DATE = date(1880, 1, 1)


# --- Identifier systems -------------------------------------------------------------------------


def ensure_identifier_systems(*, tenant_id: int) -> None:
    """Create the identifier systems the tenant's policy seeds, if missing (idempotent).

    ``{slug}`` and ``{SLUG}`` in a seed are replaced by the tenant's slug (lower/upper case).
    """
    from clinic.facade import get_tenant

    tenant = get_tenant(tenant_id=tenant_id)
    seeds = effective_policy(tenant_id=tenant_id).get("identifier_systems", {}).get("seed", [])
    rows = []
    for seed in seeds:
        values = {
            k: (v.replace("{slug}", tenant.slug).replace("{SLUG}", tenant.slug.upper()) if isinstance(v, str) else v)
            for k, v in seed.items()
        }
        rows.append(IdentifierSystem(tenant_id=tenant_id, **values))
    IdentifierSystem.objects.bulk_create(rows, ignore_conflicts=True)


def ensure_identifier_system(*, tenant_id: int, uri: str, name: str, assigning_authority: str, pattern: str) -> None:
    """See ``identity.facade.ensure_identifier_system``. Raises IdentifierSystemConflict."""
    ensure_identifier_systems(tenant_id=tenant_id)
    IdentifierSystem.objects.bulk_create(
        [
            IdentifierSystem(
                tenant_id=tenant_id,
                uri=uri,
                name=name,
                assigning_authority=assigning_authority,
                validator=IdentifierSystem.Validator.PATTERN,
                pattern=pattern,
                authoritative=False,
            )
        ],
        ignore_conflicts=True,
    )
    if not IdentifierSystem.objects.filter(tenant_id=tenant_id, uri=uri).exists():
        raise IdentifierSystemConflict(
            f"Another identifier system of this tenant has the assigning authority {assigning_authority!r}: "
            f"rename one of them (admin) before using {uri}."
        )


def identifier_systems(*, tenant_id: int) -> QuerySet[IdentifierSystem]:
    """The identifier systems the tenant accepts, by URI; a tenant that has none (created before
    identity seeded new tenants) gets those of its policy first."""
    if not selectors.identifier_systems(tenant_id=tenant_id).exists():
        ensure_identifier_systems(tenant_id=tenant_id)
    return selectors.identifier_systems(tenant_id=tenant_id)


def _systems_by_uri(tenant_id: int) -> dict[str, IdentifierSystem]:
    systems = {s.uri: s for s in IdentifierSystem.objects.filter(tenant_id=tenant_id).order_by()}
    if not systems:
        ensure_identifier_systems(tenant_id=tenant_id)
        systems = {s.uri: s for s in IdentifierSystem.objects.filter(tenant_id=tenant_id).order_by()}
    return systems


# --- Registration ------------------------------------------------------------------------------


def _validate(
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
    systems = _systems_by_uri(tenant_id)
    checked = _validate(tenant_id, identifiers, demographics, systems)
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
    publish(
        type=PATIENT_REGISTERED,
        tenant_id=tenant_id,
        patient_id=patient.pk,
        payload={"patient_id": str(patient.pk), "by": actor},
    )
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


# --- Writing against a patient ---------------------------------------------------------------


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
    _validate(tenant_id, [], demographics, {})
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
                type=PATIENT_UPDATED,
                tenant_id=tenant_id,
                patient_id=patient.pk,
                payload={"patient_id": str(patient.pk), "changed": changed, "by": actor},
            )
            logger.info("patient.updated tenant=%s patient=%s fields=%s", tenant_id, patient.pk, len(changed))
    return selectors.get_patient(tenant_id=tenant_id, patient_id=survivor)


# --- Merge and unmerge -------------------------------------------------------------------------


def merge_patients(*, tenant_id: int, source_id: UUID, target_id: UUID, reason: str, actor: str) -> MergeOutcome:
    """The use case of ``merge_patients_in_transaction``, in a transaction of its own."""
    with transaction.atomic(durable=True):
        return merge_patients_in_transaction(
            tenant_id=tenant_id, source_id=source_id, target_id=target_id, reason=reason, actor=actor
        )


def merge_patients_in_transaction(
    *, tenant_id: int, source_id: UUID, target_id: UUID, reason: str, actor: str
) -> MergeOutcome:
    """Merge ``source`` into ``target`` (or into the survivor of ``target`` if it was merged).

    In the caller's transaction, with both patients locked in a fixed order: the source becomes inactive
    with a ``replaced-by`` link, its identifiers move to the target as ``old``, every registered
    reference to it in any app is re-pointed, each moved row is recorded in the merge ledger,
    and ``patient.merged`` lists them. Merging the same pair again returns the first merge.

    Raises PatientNotFound (either patient, or another tenant's), InvalidMerge (into itself, no
    reason), MergeConflict (the source was merged into someone else).
    """
    if not reason.strip():
        raise InvalidMerge("A merge needs a reason.", [FieldProblem("reason", "must not be blank")])
    with transaction.atomic(savepoint=False):
        for _attempt in range(3):
            final_target = selectors.survivor_id(tenant_id=tenant_id, patient_id=target_id, must_exist=True)
            if final_target == source_id:
                raise InvalidMerge(
                    "A patient cannot be merged into itself.",
                    [FieldProblem("source", "is the target patient (or the patient it was merged into)")],
                )
            locked = {
                p.pk: p
                for p in Patient.objects.select_for_update()
                .filter(tenant_id=tenant_id, pk__in=[source_id, final_target])
                .order_by("pk")
            }
            if source_id not in locked:
                raise PatientNotFound("No such source patient.")
            if final_target not in locked:
                continue  # vanished between resolving and locking: resolve again
            source, target = locked[source_id], locked[final_target]
            if not target.active:
                continue  # the target was merged away meanwhile: follow it again
            existing = MergeRecord.objects.filter(
                tenant_id=tenant_id, source_id=source_id, unmerged_at__isnull=True
            ).first()
            if existing is not None:
                if selectors.survivor_id(tenant_id=tenant_id, patient_id=existing.target_id) == final_target:
                    return _merge_outcome(existing, already=True)
                raise MergeConflict(
                    f"The source patient was already merged into {existing.target_id}.",
                    extra={"merged_into": str(existing.target_id)},
                )
            refusals = references.merge_refusals(tenant_id, source.pk, target.pk)
            if refusals:
                raise MergeConflict("These records cannot be merged now: " + "; ".join(refusals))
            return _merge(source, target, reason=reason.strip(), actor=actor)
        raise MergeConflict("The target patient keeps changing; try again.")


def _merge(source: Patient, target: Patient, *, reason: str, actor: str) -> MergeOutcome:
    record = MergeRecord.objects.create(
        tenant_id=source.tenant_id, source=source, target=target, reason=reason, merged_by=actor
    )
    entries: list[MergeLedgerEntry] = []
    for ident in PatientIdentifier.objects.select_for_update().filter(patient=source):
        entries.append(
            MergeLedgerEntry(
                merge=record,
                kind=MergeLedgerEntry.Kind.IDENTIFIER,
                model=PatientIdentifier._meta.label,
                object_id=str(ident.pk),
                field="patient",
                previous=ident.use,
            )
        )
    # New versions first: the revision trigger keeps each version with the identifiers it had.
    Patient.objects.filter(pk=source.pk).update(
        active=False, replaced_by=target, version=F("version") + 1, updated_at=timezone.now()
    )
    Patient.objects.filter(pk=target.pk).update(version=F("version") + 1, updated_at=timezone.now())
    PatientIdentifier.objects.filter(patient=source).update(patient=target, use=IdentifierUse.OLD.value)
    for ref in references.registered():
        manager = ref.model._base_manager
        ids = list(manager.select_for_update().filter(**{ref.field: source.pk}).values_list("pk", flat=True))
        if ids:
            manager.filter(pk__in=ids).update(**{ref.field: target.pk}, **_touched(ref.model))
            entries += [
                MergeLedgerEntry(
                    merge=record,
                    kind=MergeLedgerEntry.Kind.REFERENCE,
                    model=ref.label,
                    object_id=str(pk),
                    field=ref.field,
                )
                for pk in ids
            ]
    MergeLedgerEntry.objects.bulk_create(entries)
    outcome = _merge_outcome(record, already=False)
    publish(
        type=PATIENT_MERGED,
        tenant_id=source.tenant_id,
        patient_id=target.pk,
        payload={
            "merge_id": str(record.pk),
            "source": str(source.pk),
            "target": str(target.pk),
            "reason": reason,
            "by": actor,
            "moved": [{"model": m.model, "id": m.id, "field": m.field} for m in outcome.moved],
        },
    )
    logger.info(
        "patient.merged tenant=%s merge=%s source=%s target=%s", source.tenant_id, record.pk, source.pk, target.pk
    )
    return outcome


def _merge_outcome(record: MergeRecord, *, already: bool) -> MergeOutcome:
    return MergeOutcome(
        merge_id=record.pk,
        source=selectors.get_patient(tenant_id=record.tenant_id, patient_id=record.source_id),
        target=selectors.get_patient(tenant_id=record.tenant_id, patient_id=record.target_id),
        reason=record.reason,
        merged_at=record.merged_at,
        moved=tuple(MovedRow(model=e.model, id=e.object_id, field=e.field) for e in record.entries.all()),
        already_merged=already,
    )


def unmerge_patient(*, tenant_id: int, source_id: UUID, reason: str, actor: str) -> UnmergeOutcome:
    """The use case of ``unmerge_patient_in_transaction``, in a transaction of its own."""
    with transaction.atomic(durable=True):
        return unmerge_patient_in_transaction(tenant_id=tenant_id, source_id=source_id, reason=reason, actor=actor)


def unmerge_patient_in_transaction(*, tenant_id: int, source_id: UUID, reason: str, actor: str) -> UnmergeOutcome:
    """Undo the live merge of ``source`` in the caller's transaction: replay its ledger backwards.

    The source is active again; its identifiers (with their previous use) and the rows the merge
    moved return to it. Rows that reference the target and were created after the merge stay on
    the target and are listed under ``review``. Publishes ``patient.unmerged``.

    Raises PatientNotFound, NotMerged (the patient is not merged), MergeConflict (the target was
    itself merged since: undo that first).
    """
    with transaction.atomic(savepoint=False):
        if not Patient.objects.filter(tenant_id=tenant_id, pk=source_id).exists():
            raise PatientNotFound("No such patient.")
        record = MergeRecord.objects.filter(tenant_id=tenant_id, source_id=source_id, unmerged_at__isnull=True).first()
        if record is None:
            raise NotMerged("This patient is not merged into another.")
        locked = {
            p.pk: p
            for p in Patient.objects.select_for_update()
            .filter(pk__in=[record.source_id, record.target_id])
            .order_by("pk")
        }
        record = MergeRecord.objects.select_for_update().get(pk=record.pk)
        if record.unmerged_at is not None:
            raise NotMerged("This patient is not merged into another.")
        target = locked[record.target_id]
        if not target.active:
            raise MergeConflict(
                f"The target {target.pk} was merged into {target.replaced_by_id} since; unmerge that first.",
                extra={"merged_into": str(target.replaced_by_id)},
            )
        # New versions first: the revision trigger keeps each version with the identifiers it had.
        Patient.objects.filter(pk=source_id).update(
            active=True, replaced_by=None, version=F("version") + 1, updated_at=timezone.now()
        )
        Patient.objects.filter(pk=target.pk).update(version=F("version") + 1, updated_at=timezone.now())
        returned: list[MovedRow] = []
        not_returned: list[MovedRow] = []
        for entry in record.entries.order_by("-id"):
            row = MovedRow(model=entry.model, id=entry.object_id, field=entry.field)
            if entry.kind == MergeLedgerEntry.Kind.IDENTIFIER:
                moved = PatientIdentifier.objects.filter(pk=int(entry.object_id), patient_id=target.pk).update(
                    patient_id=source_id, use=entry.previous
                )
            else:
                ref = _reference(entry.model, entry.field)
                moved = (
                    ref.model._base_manager.filter(pk=entry.object_id, **{ref.field: target.pk}).update(
                        **{ref.field: source_id}, **_touched(ref.model)
                    )
                    if ref
                    else 0
                )
            (returned if moved else not_returned).append(row)
        review = _created_on_target_since(target.pk, record)
        record.unmerged_at = timezone.now()
        record.unmerged_by = actor
        record.unmerge_reason = reason
        record.save(update_fields=["unmerged_at", "unmerged_by", "unmerge_reason"])
        publish(
            type=PATIENT_UNMERGED,
            tenant_id=tenant_id,
            patient_id=source_id,
            payload={
                "merge_id": str(record.pk),
                "source": str(source_id),
                "target": str(target.pk),
                "by": actor,
                "returned": [{"model": r.model, "id": r.id, "field": r.field} for r in returned],
                "review": [{"model": r.model, "id": r.id, "field": r.field} for r in review],
            },
        )
    logger.info("patient.unmerged tenant=%s merge=%s", tenant_id, record.pk)
    return UnmergeOutcome(
        merge_id=record.pk,
        source=selectors.get_patient(tenant_id=tenant_id, patient_id=source_id),
        target=selectors.get_patient(tenant_id=tenant_id, patient_id=target.pk),
        returned=tuple(returned),
        review=tuple(review),
        not_returned=tuple(not_returned),
    )


def _touched(model: type[Model]) -> dict[str, Any]:
    """A re-pointed row changed (its patient did): readers that follow ``updated_at`` (FHIR
    ``_lastUpdated``) or ``version`` (ETags) must see it. The version it replaces is not kept
    by this generic re-pointer; the merge ledger says what moved."""
    names = {f.name for f in model._meta.concrete_fields}
    changes: dict[str, Any] = {}
    if "updated_at" in names:
        changes["updated_at"] = timezone.now()
    if "version" in names:
        changes["version"] = F("version") + 1
    return changes


def _reference(label: str, field: str) -> references.PatientReference | None:
    return next((r for r in references.registered() if r.label == label and r.field == field), None)


def _created_on_target_since(target_id: UUID, record: MergeRecord) -> list[MovedRow]:
    rows: list[MovedRow] = []
    for ref in references.registered():
        if ref.created_field is None:
            continue
        pks = ref.model._base_manager.filter(
            **{ref.field: target_id, f"{ref.created_field}__gt": record.merged_at}
        ).values_list("pk", flat=True)
        rows += [MovedRow(model=ref.label, id=str(pk), field=ref.field) for pk in pks]
    new_identifiers = PatientIdentifier.objects.filter(patient_id=target_id, created_at__gt=record.merged_at)
    rows += [MovedRow(model=PatientIdentifier._meta.label, id=str(i.pk), field="patient") for i in new_identifiers]
    return rows
