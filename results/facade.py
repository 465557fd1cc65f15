"""Public functions of results for other apps (plain data in, plain data out)."""

from __future__ import annotations

from uuid import UUID

from clinic.rows import Publisher
from results import held, selectors, services
from results.contracts import ChartingOutcome, ResultMessage, UnsolicitedResults
from results.errors import HeldResultClosed, HeldResultNotFound, ResultUnresolved

__all__ = [
    "HeldResultClosed",
    "HeldResultNotFound",
    "ResultUnresolved",
    "count_rows",
    "file_held_result",
    "read_rows",
    "record_result",
]


def record_result(
    *,
    tenant_id: int,
    message: ResultMessage,
    actor: str,
    unsolicited: UnsolicitedResults = UnsolicitedResults.HOLD,
) -> ChartingOutcome:
    """Chart an ORU's results exactly once, in the caller's transaction (see
    ``results.services.record_result``): charted, duplicate, stale, or held in the work queue.
    ``unsolicited``: what to do with a report whose order is not found (hold it, or chart it
    to the patient without an order)."""
    return services.record_result(tenant_id=tenant_id, message=message, actor=actor, unsolicited=unsolicited)


def file_held_result(
    *, tenant_id: int, held_id: UUID, actor: str, patient_id: UUID | None = None, order_id: UUID | None = None
) -> ChartingOutcome:
    """File a held result, in the caller's transaction (see ``results.held.file_held_result``).
    Raises HeldResultNotFound, HeldResultClosed, ResultUnresolved, NotFound."""
    return held.file_held_result(
        tenant_id=tenant_id, held_id=held_id, actor=actor, patient_id=patient_id, order_id=order_id
    )


# Rows of this app's read views (selectors.READ_VIEWS) for edges that read in bulk (the FHIR
# API): ``read_rows(view=..., query=clinic.rows.RowQuery(...))`` and ``count_rows``.
_published = Publisher(selectors.READ_VIEWS)
read_rows = _published.read_rows
count_rows = _published.count_rows
