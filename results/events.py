"""The events results publishes, and their payloads (with patient and encounter):

- ``result.available`` / ``result.corrected`` → ``{"report_id", "order_id", "placer_number",
  "filler_number", "accession", "code", "display", "status", "summary", "observations",
  "abnormal", "created", "updated", "source", "visit_number", "unsolicited"}``;
  ``result.corrected`` when the message corrected a charted result (OBX-11/OBR-25 ``C``);
  ``unsolicited`` (bool) when it was charted without its order (``UnsolicitedResults.CHART``).
  The encounter is the report's (none for an unsolicited result without a visit).
- ``result.flagged`` → the same payload, on each of the patient's encounters in progress that is
  not the report's own (a clinician with the patient in front of them sees it arrive).
- ``result.unsolicited`` → the same payload, in place of ``result.flagged`` for a result charted
  without its order: on each of the patient's encounters in progress that is not the report's
  own, so an order nobody here placed is seen by whoever has the patient in front of them.
- ``result.released`` → ``{"held_id", "source", "status", "detail", "produced", "by"}`` when a
  held result is charted (automatically or by an admin), no encounter.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from clinic.facade import publish
from encounters.facade import get_encounter
from orders.contracts import OrderRecord
from results.charting.work import ReportWork
from results.contracts import (
    RESULT_AVAILABLE,
    RESULT_CORRECTED,
    RESULT_FLAGGED,
    RESULT_RELEASED,
    RESULT_UNSOLICITED,
    ChartingOutcome,
    ResultMessage,
)
from results.models import HeldResult


def publish_results(
    tenant_id: int, message: ResultMessage, patient_id: UUID, work: list[ReportWork], active: list[UUID]
) -> list[UUID]:
    """``result.available`` (or ``result.corrected``) for each report the message changed, on
    its encounter, and ``result.flagged`` on each other encounter of ``active`` (the patient's
    encounters in progress). Returns the event IDs."""
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
    payload = result_payload(w, message, w.target.order, visit_number=visit)
    event = publish(
        type=RESULT_CORRECTED if w.corrected else RESULT_AVAILABLE,
        tenant_id=tenant_id,
        patient_id=patient_id,
        encounter_id=w.row.encounter_id,
        payload=payload,
    )
    events = [event.id]
    flag = RESULT_UNSOLICITED if w.target.unsolicited else RESULT_FLAGGED
    for other in others:
        flagged = publish(type=flag, tenant_id=tenant_id, patient_id=patient_id, encounter_id=other, payload=payload)
        events.append(flagged.id)
    return events


def result_payload(
    w: ReportWork, message: ResultMessage, order: OrderRecord | None, *, visit_number: str
) -> dict[str, Any]:
    """The payload of ``result.available``, ``result.corrected``, ``result.flagged`` and
    ``result.unsolicited``."""
    original = w.row.coded.get("original") or {}
    display = _display(w.row.coded)
    abnormal = sum(1 for o in w.observations if any(f not in ("N", "") for f in o.abnormal_flags))
    count = len(w.observations)
    return {
        "report_id": str(w.row.id),
        "order_id": str(order.id) if order else None,
        "placer_number": w.row.placer_number,
        "filler_number": w.row.filler_number,
        "accession": w.row.accession,
        "code": original.get("code", ""),
        "display": display,
        "status": w.row.status,
        "summary": _summary(display, w.row.status, count, abnormal, unsolicited=w.target.unsolicited)[:400],
        "observations": count,
        "abnormal": abnormal,
        "created": w.created,
        "updated": w.updated,
        "source": message.source,
        "visit_number": visit_number,
        "unsolicited": w.target.unsolicited,
    }


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
        type=RESULT_RELEASED,
        tenant_id=held.tenant_id,
        patient_id=outcome.patient_id,
        payload={
            "held_id": str(held.pk),
            "source": held.source,
            "status": outcome.status.value,
            "detail": outcome.detail,
            "produced": outcome.produced(),
            "by": actor,
        },
    )
    return released.id
