"""The work queue of held results: a result whose patient or order cannot be resolved waits
here (unique by content, so a redelivery finds it), and is charted when a new fact resolves it
(a patient registered or merged, an order placed), when the sweep tries it again, or when an
admin files it. The transactions around these steps are the use cases' (``results.services``);
everything here runs in the caller's."""

from __future__ import annotations

import logging
from uuid import UUID, uuid4

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clinic.contracts import FieldProblem
from identity.facade import resolve_patient_id
from results import events, sql
from results.charting.chart import chart
from results.charting.digests import observation_as_received, report_as_received, sha
from results.charting.resolution import Hold, resolve
from results.contracts import ChartingOutcome, ChartStatus, ResultMessage
from results.errors import HeldResultClosed, HeldResultNotFound, ResultUnresolved
from results.models import HeldResult

logger = logging.getLogger("results")


# --- Holding ------------------------------------------------------------------------------------


def hold(tenant_id: int, message: ResultMessage, reason: Hold) -> ChartingOutcome:
    """Put ``message`` in the queue for ``reason`` (once per content: a redelivery finds the row
    held before; if that was charted since, the redelivery is a duplicate)."""
    content_sha = held_digest(message)
    row = HeldResult(
        id=uuid4(),
        tenant_id=tenant_id,
        source=message.source[:100],
        reason=reason.reason.value,
        detail=reason.detail,
        patient_keys=patient_keys(message),
        placer_numbers=message.placer_numbers,
        filler_numbers=message.filler_numbers,
        accessions=message.accessions,
        visit_number=message.visit_number[:40],
        payload=message.to_json(),
        content_sha256=content_sha,
    )
    inserted = sql.insert_new_held([row])
    # Locked: a release charting it now finishes first, and this delivery then sees it charted.
    held = HeldResult.objects.select_for_update().get(tenant_id=tenant_id, content_sha256=content_sha)
    if not inserted and held.status != HeldResult.Status.HELD:
        return _charted_before(held, message)
    logger.info("results.held tenant=%s held=%s reason=%s", tenant_id, held.pk, reason.reason.value)
    return ChartingOutcome(
        status=ChartStatus.HELD,
        held_id=held.pk,
        hold_reason=reason.reason,
        detail=f"Held for review ({reason.reason.value}): {reason.detail}",
        placer_numbers=tuple(message.placer_numbers),
    )


def _charted_before(held: HeldResult, message: ResultMessage) -> ChartingOutcome:
    """Held before and charted since (automatically, or filed by an admin to the patient they
    chose): the same content again is a redelivery of a result already charted."""
    produced = held.outcome or {}
    return ChartingOutcome(
        status=ChartStatus.DUPLICATE,
        patient_id=UUID(produced["patient"]) if produced.get("patient") else None,
        report_ids=tuple(UUID(r) for r in produced.get("reports", [])),
        observation_ids=tuple(UUID(o) for o in produced.get("observations", [])),
        held_id=held.pk,
        detail=f"Already charted: this result was {held.get_status_display().lower()} from the work queue.",
        placer_numbers=tuple(message.placer_numbers),
    )


def patient_keys(message: ResultMessage) -> list[str]:
    """'authority|value' of each PID-3 identifier, as sent and as identity stores it (NHS
    numbers compacted): what a registration or merge releases the result by."""
    keys = set()
    for p in message.patient_identifiers:
        value = p.value.strip()
        keys.add(f"{p.authority}|{value}")
        keys.add(f"{p.authority}|{value.replace(' ', '').replace('-', '')}")
    return sorted(keys)


def held_digest(message: ResultMessage) -> str:
    """What makes two held messages the same result: what charting compares (the patient, the
    orders and what each result says), not the message's own time or set IDs."""
    return sha(
        {
            "patient": sorted((p.authority, p.value.strip()) for p in message.patient_identifiers),
            "visit": message.visit_number,
            "reports": sorted(
                [
                    r.placer_number,
                    r.filler_number,
                    r.accession,
                    report_as_received(r),
                    sorted(sha(observation_as_received(o)) for o in r.observations),
                ]
                for r in message.reports
            ),
        }
    )


# --- Finding what to try again ------------------------------------------------------------------


def lock_waiting_for(
    *, tenant_id: int, patient_keys: list[str] | None = None, placer_numbers: list[str] | None = None
) -> list[HeldResult]:
    """The held results (at most 200, oldest first) waiting for a patient with one of these
    keys or an order with one of these placer numbers, locked."""
    condition = Q()
    if patient_keys:
        condition |= Q(patient_keys__overlap=patient_keys)
    if placer_numbers:
        condition |= Q(placer_numbers__overlap=placer_numbers)
    if not condition:
        return []
    # Wait for a row another release holds (not skip it): that release may not see what this
    # event brought (the order placed while it looked for the patient). Rows are locked in
    # one order, so two releases cannot deadlock.
    return list(
        HeldResult.objects.select_for_update()
        .filter(condition, tenant_id=tenant_id, status=HeldResult.Status.HELD)
        .order_by("created_at", "id")[:200]
    )


def least_recently_tried(*, limit: int) -> list[UUID]:
    """IDs of held results of every tenant, the least recently tried first."""
    return list(
        HeldResult.objects.filter(status=HeldResult.Status.HELD)
        .order_by("last_tried_at")
        .values_list("pk", flat=True)[:limit]
    )


def lock_if_still_held(held_id: UUID) -> HeldResult | None:
    """The held result, locked, unless it was charted since or another transaction holds it."""
    return (
        HeldResult.objects.select_for_update(skip_locked=True).filter(pk=held_id, status=HeldResult.Status.HELD).first()
    )


# --- Trying again -------------------------------------------------------------------------------


def file_held_result(
    *, tenant_id: int, held_id: UUID, actor: str, patient_id: UUID | None = None, order_id: UUID | None = None
) -> ChartingOutcome:
    """An admin files a held result, in the caller's transaction: to the patient (and order)
    they chose, or by retrying the lookup when none is given. Raises HeldResultNotFound,
    HeldResultClosed, ResultUnresolved (still unresolvable), NotFound (the chosen patient or
    order)."""
    with transaction.atomic(savepoint=False):
        held = HeldResult.objects.select_for_update().filter(tenant_id=tenant_id, pk=held_id).first()
        if held is None:
            raise HeldResultNotFound("No such held result.")
        if held.status != HeldResult.Status.HELD:
            raise HeldResultClosed(f"This result was already {held.get_status_display().lower()}.")
        if patient_id is not None:
            patient_id = resolve_patient_id(tenant_id=tenant_id, patient_id=patient_id)
        return retry(held, actor=actor, patient_id=patient_id, order_id=order_id, by_admin=True)


def retry(
    held: HeldResult,
    *,
    actor: str,
    patient_id: UUID | None = None,
    order_id: UUID | None = None,
    by_admin: bool = False,
) -> ChartingOutcome:
    """Resolve the locked ``held`` result again (with an admin's choice of patient and order):
    chart it and publish ``result.released``, or record why it is still held. Raises
    ResultUnresolved when an admin's filing still cannot be resolved."""
    message = ResultMessage.from_json(held.payload)
    now = timezone.now()
    resolution = resolve(held.tenant_id, message, patient_id=patient_id, order_id=order_id)
    if isinstance(resolution, Hold):
        if by_admin:
            raise ResultUnresolved(resolution.detail, [FieldProblem(resolution.reason.value, resolution.detail)])
        HeldResult.objects.filter(pk=held.pk).update(
            reason=resolution.reason.value, detail=resolution.detail, attempts=held.attempts + 1, last_tried_at=now
        )
        return ChartingOutcome(
            status=ChartStatus.HELD, held_id=held.pk, hold_reason=resolution.reason, detail=resolution.detail
        )
    outcome = chart(held.tenant_id, message, resolution)
    held.status = HeldResult.Status.FILED if by_admin else HeldResult.Status.RELEASED
    held.released_at = now
    held.released_by = actor[:100]
    held.last_tried_at = now
    held.attempts += 1
    held.outcome = outcome.produced()
    held.save(update_fields=["status", "released_at", "released_by", "last_tried_at", "attempts", "outcome"])
    released = events.publish_released(held, outcome, actor=actor)
    logger.info("results.released tenant=%s held=%s status=%s", held.tenant_id, held.pk, outcome.status.value)
    return ChartingOutcome(
        status=outcome.status,
        patient_id=outcome.patient_id,
        encounter_ids=outcome.encounter_ids,
        report_ids=outcome.report_ids,
        observation_ids=outcome.observation_ids,
        event_ids=(*outcome.event_ids, released),
        held_id=held.pk,
        detail=outcome.detail,
        created=outcome.created,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        stale=outcome.stale,
        placer_numbers=outcome.placer_numbers,
    )
