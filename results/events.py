"""Publishing the events of results (payloads: ``results.contracts``):

- ``result.available`` / ``result.corrected`` (with patient and encounter) for each report a
  message changed; ``result.corrected`` when it corrected a charted result (OBX-11/OBR-25 ``C``).
  ``unsolicited`` is true when the report was charted without its order
  (``UnsolicitedResults.CHART``); its encounter is then PV1-19's visit, or none.
- ``result.flagged``, the same payload, on each of the patient's encounters in progress that is
  not the report's own (a clinician with the patient in front of them sees it arrive).
- ``result.unsolicited``, the same payload, in place of ``result.flagged`` for a result charted
  without its order: on each of the patient's encounters in progress that is not the report's
  own, so an order nobody here placed is seen by whoever has the patient in front of them.
- ``result.released`` when a held result is charted (automatically or by an admin), no encounter.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from clinic.facade import publish
from encounters.facade import get_encounter
from orders.contracts import OrderRecord
from results.charting.work import ReportWork
from results.contracts import (
    ChartingOutcome,
    ResultAvailable,
    ResultCorrected,
    ResultEvent,
    ResultFlagged,
    ResultMessage,
    ResultReleased,
    ResultUnsolicited,
)
from results.models import HeldResult

R = TypeVar("R", bound=ResultEvent)


def publish_results(
    tenant_id: int, message: ResultMessage, patient_id: UUID, work: list[ReportWork], active: list[UUID]
) -> list[UUID]:
    """``result.available`` (or ``result.corrected``) for each report the message changed, on
    its encounter, and ``result.flagged`` (``result.unsolicited`` for a report charted without
    its order) on each other encounter of ``active`` (the patient's encounters in progress).
    Returns the event IDs."""
    events: list[UUID] = []
    for w in work:
        if w.changed:
            events.extend(_publish_report(tenant_id, message, patient_id, w, active))
    return events


def _publish_report(
    tenant_id: int, message: ResultMessage, patient_id: UUID, w: ReportWork, active: list[UUID]
) -> list[UUID]:
    others = [e for e in active if e != w.row.encounter_id]
    visit = w.target.visit_number
    if others and not visit and w.row.encounter_id:
        # The visit the result belongs to, for the clinician who sees it flagged on another.
        visit = get_encounter(tenant_id=tenant_id, encounter_id=w.row.encounter_id).visit_number
    contract = ResultCorrected if w.corrected else ResultAvailable
    event = publish(
        payload=result_payload(contract, w, message, w.target.order, visit_number=visit),
        tenant_id=tenant_id,
        patient_id=patient_id,
        encounter_id=w.row.encounter_id,
    )
    events = [event.id]
    flag: type[ResultFlagged | ResultUnsolicited] = ResultUnsolicited if w.target.unsolicited else ResultFlagged
    for other in others:
        flagged = publish(
            payload=result_payload(flag, w, message, w.target.order, visit_number=visit),
            tenant_id=tenant_id,
            patient_id=patient_id,
            encounter_id=other,
        )
        events.append(flagged.id)
    return events


def result_payload(
    contract: type[R], w: ReportWork, message: ResultMessage, order: OrderRecord | None, *, visit_number: str
) -> R:
    """The payload of ``result.available``, ``result.corrected``, ``result.flagged`` or
    ``result.unsolicited``."""
    original = w.row.coded.get("original") or {}
    display = _display(w.row.coded)
    abnormal = sum(1 for o in w.observations if any(f not in ("N", "") for f in o.abnormal_flags))
    count = len(w.observations)
    return contract(
        report_id=w.row.id,
        order_id=order.id if order else None,
        placer_number=w.row.placer_number,
        filler_number=w.row.filler_number,
        accession=w.row.accession,
        code=original.get("code", ""),
        display=display,
        status=w.row.status,
        summary=_summary(display, w.row.status, count, abnormal, unsolicited=w.target.unsolicited)[:400],
        observations=count,
        abnormal=abnormal,
        created=w.created,
        updated=w.updated,
        source=message.source,
        visit_number=visit_number,
        unsolicited=w.target.unsolicited,
    )


def _display(coded: dict[str, Any]) -> str:
    """The report's name: as the lab sent it, else its translation's, else its code."""
    original = coded.get("original") or {}
    translated = coded.get("translated") or {}
    display: str = original.get("display") or translated.get("display") or original.get("code", "")
    return display


def _summary(display: str, status: str, observations: int, abnormal: int, *, unsolicited: bool = False) -> str:
    kind = "Unsolicited result (no order here)" if unsolicited else "Result"
    summary = f"{kind}: {display} ({status}), {observations} observation{'s' if observations != 1 else ''}"
    if abnormal:
        summary += f", {abnormal} abnormal"
    return summary


def publish_released(held: HeldResult, outcome: ChartingOutcome, *, actor: str) -> UUID:
    """``result.released``: the held result was charted; returns the event ID."""
    released = publish(
        payload=ResultReleased(
            held_id=held.pk,
            source=held.source,
            status=outcome.status,
            detail=outcome.detail,
            produced=outcome.produced(),
            by=actor,
        ),
        tenant_id=held.tenant_id,
        patient_id=outcome.patient_id,
    )
    return released.id
