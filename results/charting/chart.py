"""Charting a resolved message: lock the patient, insert what is new, compare what was charted
before, move the orders on, publish, and say what happened."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from encounters.facade import active_encounter_ids
from identity.facade import lock_patient_for_write
from orders.contracts import OrderStatus
from orders.facade import record_result_status
from results import events, sql
from results.charting import versions
from results.charting.coding import FINAL_REPORT_STATUSES, Codes
from results.charting.resolution import Resolved
from results.charting.rows import observation_row, report_row
from results.charting.work import ReceivedObservation, ReportWork
from results.contracts import ChartingOutcome, ChartStatus, ResultMessage

logger = logging.getLogger("results")


def chart(tenant_id: int, message: ResultMessage, resolved: Resolved) -> ChartingOutcome:
    """Chart ``message`` for the patient and targets it resolved to, in the caller's transaction."""
    # The patient first, then clinical rows (as everywhere): a merge cannot strand these rows on
    # a merged-away record, and two deliveries for one patient take turns here.
    patient_id = lock_patient_for_write(tenant_id=tenant_id, patient_id=resolved.patient_id)
    codes = Codes(tenant_id, message.sending_facility, message.source)
    work = [
        ReportWork(input=report, target=target, row=report_row(codes, tenant_id, patient_id, message, report, target))
        for report, target in zip(message.reports, resolved.targets, strict=True)
    ]
    _chart_reports(tenant_id, message, work)
    _chart_observations(codes, tenant_id, patient_id, message, work)
    return _finish(tenant_id, message, patient_id, work)


def _chart_reports(tenant_id: int, message: ResultMessage, work: list[ReportWork]) -> None:
    """Insert the reports not charted yet; lock and take those that were."""
    versions.match_renumbered_reports(tenant_id, message.sending_facility, work)
    inserted = sql.insert_new_reports(
        sorted((w.row for w in work), key=lambda r: (r.placer_number, r.filler_number, r.accession, r.code_key))
    )
    charted_before = [w for w in work if w.row.id not in inserted]
    if charted_before:
        versions.take_charted_reports(tenant_id, message.sending_facility, charted_before)


def _chart_observations(
    codes: Codes, tenant_id: int, patient_id: UUID, message: ResultMessage, work: list[ReportWork]
) -> None:
    """Insert the observations not charted yet; compare those that were with what was charted."""
    rows: list[ReceivedObservation] = [
        (w, obs, observation_row(codes, tenant_id, patient_id, message, w, obs))
        for w in work
        for obs in w.input.observations
    ]
    inserted = sql.insert_new_observations(
        sorted((r for _w, _o, r in rows), key=lambda r: (str(r.report_id), r.code_key, r.sub_id))
    )
    for w, _obs, row in rows:
        if row.id in inserted:
            w.created += 1
            w.observation_ids.append(row.id)
            w.observations.append(row)
    conflicts = [(w, o, r) for w, o, r in rows if r.id not in inserted]
    if conflicts:
        versions.apply_to_charted_observations(tenant_id, message.source, conflicts)


def _finish(tenant_id: int, message: ResultMessage, patient_id: UUID, work: list[ReportWork]) -> ChartingOutcome:
    """Settle each report, move its order on, publish, and tell what happened."""
    active = active_encounter_ids(tenant_id=tenant_id, patient_id=patient_id)
    for w in work:
        versions.settle_report(tenant_id, message.source, w)
    _record_order_statuses(tenant_id, work)
    event_ids = events.publish_results(tenant_id, message, patient_id, work, active)
    tally = _Tally.of(work)
    status, detail = tally.verdict(reports=len(work), published=bool(event_ids))
    logger.info(
        "results.recorded tenant=%s status=%s reports=%s created=%s updated=%s unchanged=%s stale=%s",
        tenant_id,
        status.value,
        len(work),
        tally.created,
        tally.updated,
        tally.unchanged,
        tally.stale,
    )
    return ChartingOutcome(
        status=status,
        patient_id=patient_id,
        encounter_ids=_encounters_of(work),
        report_ids=tuple(w.row.id for w in work),
        observation_ids=tuple(i for w in work for i in w.observation_ids),
        event_ids=tuple(event_ids),
        detail=detail,
        placer_numbers=tuple(message.placer_numbers),
        created=tally.created,
        updated=tally.updated,
        unchanged=tally.unchanged,
        stale=tally.stale,
    )


def _encounters_of(work: list[ReportWork]) -> tuple[UUID, ...]:
    """The encounters the reports are charted on, each once, in the order of the reports."""
    return tuple(dict.fromkeys(w.row.encounter_id for w in work if w.row.encounter_id))


def _record_order_statuses(tenant_id: int, work: list[ReportWork]) -> None:
    """Give each order the filler number its results brought, and complete it when a report of
    it is final. Orders are locked in one order (by ID), whatever order the OBRs came in: two
    messages for the same two orders never wait on each other."""
    updates: dict[UUID, tuple[str, bool]] = {}
    for w in work:
        news = _order_news(w)
        if news is not None:
            order_id, filler, final = news
            known_filler, was_final = updates.get(order_id, ("", False))
            updates[order_id] = (known_filler or filler, was_final or final)
    for order_id in sorted(updates, key=str):
        filler, final = updates[order_id]
        record_result_status(tenant_id=tenant_id, order_id=order_id, filler_number=filler, final=final)


def _order_news(w: ReportWork) -> tuple[UUID, str, bool] | None:
    """(order ID, filler number, final) when a changed report tells its order something new: a
    filler number it lacks, or that an active order's result is final."""
    order = w.target.order
    if not w.changed or order is None:
        return None
    final = w.row.status in FINAL_REPORT_STATUSES
    new_filler = bool(w.input.filler_number and not order.filler_number)
    if not (new_filler or (final and order.status == OrderStatus.ACTIVE)):
        return None
    return order.id, w.input.filler_number, final


@dataclass(frozen=True, slots=True)
class _Tally:
    """Results of the message: new, updated, unchanged, older than charted (not applied)."""

    created: int
    updated: int
    unchanged: int
    stale: int

    @classmethod
    def of(cls, work: list[ReportWork]) -> _Tally:
        return cls(
            created=sum(w.created for w in work),
            updated=sum(w.updated for w in work),
            unchanged=sum(w.unchanged for w in work),
            stale=sum(w.stale for w in work),
        )

    def verdict(self, *, reports: int, published: bool) -> tuple[ChartStatus, str]:
        """Charted (anything new or changed), stale (only versions older than charted), or a
        duplicate (everything received before, identically); and the words for the ACK."""
        if self.created + self.updated > 0 or published:
            return ChartStatus.CHARTED, (
                f"Charted {reports} report(s): {self.created} new, {self.updated} updated, "
                f"{self.unchanged} unchanged, {self.stale} older than charted (not applied)."
            )
        if self.stale:
            return ChartStatus.STALE, (
                f"{self.stale} result(s) are older than the versions charted (e.g. preliminary after final): "
                "recorded, not applied."
            )
        return ChartStatus.DUPLICATE, "Already charted: every result in this message was received before, identically."
