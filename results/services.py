"""The use cases of results: chart a result message, and work the queue of held results.

Charting itself is in ``results.charting`` (resolution, coding, rows, versions), the held queue
in ``results.held``, the SQL in ``results.sql``, the events in ``results.events``. Each function
here says which transaction it runs in: ``record_result`` and ``release_held`` run in their
caller's (the HL7 intake's, an event delivery's); the others are use cases an edge (the admin,
beat) calls, and commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NamedTuple
from uuid import UUID

from django.db import transaction

from clinic.contracts import DomainError, FieldProblem
from results import held
from results.charting.chart import chart
from results.charting.resolution import Hold, resolve
from results.contracts import ChartingOutcome, ChartStatus, ResultMessage, UnsolicitedResults
from results.errors import ResultUnresolved

logger = logging.getLogger("results")


def record_result(
    *,
    tenant_id: int,
    message: ResultMessage,
    actor: str,
    patient_id: UUID | None = None,
    order_id: UUID | None = None,
    hold: bool = True,
    unsolicited: UnsolicitedResults = UnsolicitedResults.HOLD,
) -> ChartingOutcome:
    """Chart a result message in the caller's transaction, exactly once.

    Each OBR becomes (or updates) a DiagnosticReport and each OBX an Observation, found by
    business key: a redelivery changes nothing (``duplicate``); a later status updates the row
    and keeps the prior version; a version older than the charted one is recorded and not
    applied (``stale``); a message whose patient or order is unknown is held in the work queue
    (``held``), never charted to a guess. ``patient_id``/``order_id`` override the lookup (an
    admin filing a held result). With ``hold=False`` an unresolvable message raises instead.

    ``unsolicited=CHART`` charts a report whose order is not found to the patient anyway: to the
    visit PV1-19 names (of that patient), else to no encounter; ``result.unsolicited`` flags it
    on the patient's encounters in progress. An unknown, ambiguous or mismatched patient (or a
    visit of another patient) is held whatever ``unsolicited`` says.

    Raises ResultUnresolved (unresolvable with ``hold=False``), NotFound (override IDs).
    """
    with transaction.atomic(savepoint=False):
        resolution = resolve(tenant_id, message, patient_id=patient_id, order_id=order_id, unsolicited=unsolicited)
        if isinstance(resolution, Hold):
            if not hold:
                raise ResultUnresolved(resolution.detail, [FieldProblem(resolution.reason.value, resolution.detail)])
            return held.hold(tenant_id, message, resolution)
        return chart(tenant_id, message, resolution)


def release_held(
    *, tenant_id: int, patient_keys: list[str] | None = None, placer_numbers: list[str] | None = None
) -> list[ChartingOutcome]:
    """Try again the held results these new facts may resolve (a patient registered or merged,
    an order placed), in the caller's transaction; each that now resolves is charted and
    ``result.released`` published. Returns the outcomes of those tried."""
    outcomes = []
    for waiting in held.lock_waiting_for(tenant_id=tenant_id, patient_keys=patient_keys, placer_numbers=placer_numbers):
        try:
            with transaction.atomic():  # a savepoint: one result that fails does not undo the others
                outcomes.append(held.retry(waiting, actor="auto-release"))
        except Exception:
            logger.exception("results.release_failed tenant=%s held=%s", tenant_id, waiting.pk)
    return outcomes


def retry_held(*, limit: int = 200) -> int:
    """Try every held result again (oldest tried first), whatever event was missed: a patient
    registered while the result was being held, an event lost. Run by beat; each in its own
    transaction. Returns how many were charted."""
    charted = 0
    for held_id in held.least_recently_tried(limit=limit):
        try:
            with transaction.atomic(durable=True):
                waiting = held.lock_if_still_held(held_id)
                if waiting is None:
                    continue
                outcome = held.retry(waiting, actor="held-sweep")
                charted += outcome.status != ChartStatus.HELD
        except Exception:
            logger.exception("results.retry_failed held=%s", held_id)
    return charted


def file_held_result(
    *, tenant_id: int, held_id: UUID, actor: str, patient_id: UUID | None = None, order_id: UUID | None = None
) -> ChartingOutcome:
    """An admin files a held result, in a transaction of its own (see
    ``results.held.file_held_result``, which runs in its caller's). Raises HeldResultNotFound,
    HeldResultClosed, ResultUnresolved (still unresolvable), NotFound (the chosen patient or
    order)."""
    with transaction.atomic(durable=True):
        return held.file_held_result(
            tenant_id=tenant_id, held_id=held_id, actor=actor, patient_id=patient_id, order_id=order_id
        )


class LookupRetries(NamedTuple):
    charted: int
    still_held: int


def retry_held_lookups(*, held_results: Iterable[tuple[int, UUID]], actor: str) -> LookupRetries:
    """An admin retries the patient and order lookup of these held results ((tenant ID, held
    ID) pairs), each in a transaction of its own; one that still cannot be resolved (or was
    charted meanwhile) stays as it is. Returns how many were charted and how many not."""
    charted = still_held = 0
    for tenant_id, held_id in held_results:
        try:
            file_held_result(tenant_id=tenant_id, held_id=held_id, actor=actor)
        except DomainError:
            still_held += 1
        else:
            charted += 1
    return LookupRetries(charted=charted, still_held=still_held)
