"""Merge and unmerge: atomic, recorded in the merge ledger, repeatable, reversible.

Publishes ``patient.merged`` → ``{"merge_id", "source", "target", "reason", "by", "moved":
[{"model", "id", "field"}]}`` and ``patient.unmerged`` → ``{"merge_id", "source", "target",
"by", "returned": [...], "review": [...]}``.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F, Model
from django.utils import timezone

from clinic.contracts import FieldProblem
from clinic.facade import publish
from identity import references, selectors
from identity.contracts import IdentifierUse, MergeOutcome, MovedRow, PatientMerged, PatientUnmerged, UnmergeOutcome
from identity.errors import InvalidMerge, MergeConflict, NotMerged, PatientNotFound
from identity.models import MergeLedgerEntry, MergeRecord, Patient, PatientIdentifier

logger = logging.getLogger("identity")


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
        payload=PatientMerged(
            merge_id=record.pk,
            source=source.pk,
            target=target.pk,
            reason=reason,
            by=actor,
            moved=outcome.moved,
        ),
        tenant_id=source.tenant_id,
        patient_id=target.pk,
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
            payload=PatientUnmerged(
                merge_id=record.pk,
                source=source_id,
                target=target.pk,
                by=actor,
                returned=tuple(returned),
                review=tuple(review),
            ),
            tenant_id=tenant_id,
            patient_id=source_id,
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
