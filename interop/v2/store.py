"""The message store: every HL7 v2 message received (``InboundMessage``), written raw before
anything else is done with it, then with what became of it and the ACK that said so.

Every write of the store is here. The hot ones are SQL (ADR 0005): one INSERT per delivery
(which, with the sender known, also finds an earlier byte-identical delivery), the outcome in
the clinical transaction, ACK times in batches. Their column lists come from the model's
columns named once below; ``tests/interop/test_message_store_sql.py`` fails when a statement
names a column the model or the migrated schema lacks, or leaves out one a row needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from clinic.db import prepared_cursor
from interop.models import InboundMessage, LabPartner
from interop.v2.ack import Problem
from results.contracts import ChartStatus

Status = InboundMessage.Status
TABLE = InboundMessage._meta.db_table

# The columns a delivery gives, in the order ``store_received`` takes them.
RECEIVED_COLUMNS = (
    "tenant_id",
    "transport",
    "peer",
    "raw",
    "size",
    "truncated",
    "sha256",
    "sending_application",
    "sending_facility",
    "receiving_facility",
    "control_id",
    "message_type",
    "version",
    "received_at",
)
# The columns every received row starts with: not processed, no ACK yet, nothing produced.
RECEIVED_CONSTANTS = {
    "status": f"'{Status.RECEIVED}'",
    "ack_code": "''",
    "ack_text": "''",
    "ack_control_id": "''",
    "errors": "'[]'",
    "produced": "'{}'",
    "event_ids": "'{}'",
    "accessions": "'{}'",
    "placer_numbers": "'{}'",
}
# A message in one of these states was taken: a byte-identical redelivery is its duplicate.
TAKEN = (Status.PROCESSED, Status.DUPLICATE, Status.HELD)
_TAKEN_SQL = "(" + ", ".join(f"'{s}'" for s in TAKEN) + ")"


def _insert(columns: tuple[str, ...]) -> str:
    names = ", ".join([*columns, *RECEIVED_CONSTANTS])
    values = ", ".join(["%s"] * len(columns) + list(RECEIVED_CONSTANTS.values()))
    return f"INSERT INTO {TABLE} ({names}) VALUES ({values}) RETURNING id"  # noqa: S608 - constants only


STORE_SQL = _insert(RECEIVED_COLUMNS)
# The sender is known (cached): store, and find an earlier byte-identical delivery, in one statement.
STORE_FINDING_EARLIER_SQL = f"""
WITH earlier AS (
    SELECT id, duplicate_of_id FROM {TABLE}
     WHERE tenant_id = %s AND sha256 = %s AND status IN {_TAKEN_SQL}
     ORDER BY received_at LIMIT 1
), stored AS ({_insert(("partner_id", *RECEIVED_COLUMNS))})
SELECT stored.id, earlier.id, earlier.duplicate_of_id FROM stored LEFT JOIN earlier ON true
"""  # noqa: S608 - constants only
EARLIER_SQL = f"""
SELECT id, duplicate_of_id FROM {TABLE}
 WHERE tenant_id = %s AND sha256 = %s AND id <> %s AND status IN {_TAKEN_SQL}
 ORDER BY received_at LIMIT 1
"""  # noqa: S608 - constants only
OUTCOME_SQL = f"""
UPDATE {TABLE}
   SET tenant_id = %s, partner_id = %s, status = %s, produced = %s::jsonb, event_ids = %s::uuid[],
       patient_id = %s, held_id = %s, committed_at = %s, accessions = %s::varchar[],
       placer_numbers = %s::varchar[], ack_code = 'AA', ack_text = %s, ack_control_id = %s,
       acknowledged_at = COALESCE(%s, acknowledged_at)
 WHERE id = %s
"""  # noqa: S608 - constants only
ACKNOWLEDGED_SQL = f"""
UPDATE {TABLE} m SET acknowledged_at = v.at
  FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::timestamptz[]) AS at) v
 WHERE m.id = v.id AND m.acknowledged_at IS NULL
"""  # noqa: S608 - constants only
STATEMENTS = {
    "store": STORE_SQL,
    "store_finding_earlier": STORE_FINDING_EARLIER_SQL,
    "earlier": EARLIER_SQL,
    "outcome": OUTCOME_SQL,
    "acknowledged": ACKNOWLEDGED_SQL,
}

Earlier = tuple[int, int | None]  # an earlier byte-identical delivery: (its ID, the first it duplicated)


@dataclass(slots=True)
class Received:
    """A message just stored: its row, and what the storing statement learnt."""

    id: int
    tenant_id: int | None
    partner_id: int | None
    sha256: str
    message_type: str
    earlier: Earlier | None = None
    checked: bool = False  # ``earlier`` was looked up with the INSERT, for ``partner_id``


@dataclass(slots=True)
class Outcome:
    """What became of a message: its status, the ACK that says it, what it produced."""

    status: str
    code: str
    text: str
    problems: list[Problem] = field(default_factory=list)
    produced: dict[str, Any] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)
    patient_id: UUID | None = None
    held_id: UUID | None = None
    duplicate_of: int | None = None
    committed: bool = False
    accessions: list[str] = field(default_factory=list)
    placer_numbers: list[str] = field(default_factory=list)
    recorded: bool = False  # the outcome and ACK fields were written with the commit

    @classmethod
    def rejected(
        cls,
        code: str,
        problems: list[Problem],
        text: str = "",
        *,
        accessions: list[str] | None = None,
        placer_numbers: list[str] | None = None,
    ) -> Outcome:
        """Refused (AR) or not charted (AE): ``text`` defaults to the first problem's."""
        return cls(
            status=Status.REJECTED,
            code=code,
            text=text or problems[0].text,
            problems=problems,
            accessions=accessions or [],
            placer_numbers=placer_numbers or [],
        )


def store_received(*, known: LabPartner | None, row: dict[str, Any]) -> Received:
    """Write the received message, committed, before anything else (one INSERT, no ORM: every
    delivery pays it). ``row`` has the ``RECEIVED_COLUMNS``. With the sender ``known``, the row
    is filed under it and the same statement finds an earlier byte-identical delivery."""
    params = [row[column] for column in RECEIVED_COLUMNS]
    received = Received(
        id=0, tenant_id=row["tenant_id"], partner_id=None, sha256=row["sha256"], message_type=row["message_type"]
    )
    with prepared_cursor() as cursor:
        if known is None:
            cursor.execute(STORE_SQL, params)
            (received.id,) = cursor.fetchone()
            return received
        cursor.execute(STORE_FINDING_EARLIER_SQL, [known.tenant_id, received.sha256, known.pk, *params])
        received.id, earlier, duplicate_of = cursor.fetchone()
    received.partner_id, received.checked = known.pk, True
    received.earlier = (earlier, duplicate_of) if earlier is not None else None
    return received


def earlier_delivery(received: Received, partner: LabPartner) -> Earlier | None:
    """An earlier byte-identical delivery of the message from ``partner``'s clinic that was
    taken, if any (looked up with the INSERT when the sender was known then)."""
    if received.checked and received.partner_id == partner.pk:
        return received.earlier
    with prepared_cursor() as cursor:
        cursor.execute(EARLIER_SQL, [partner.tenant_id, received.sha256, received.id])
        found = cursor.fetchone()
    return (found[0], found[1]) if found is not None else None


def file_under(received: Received, partner: LabPartner) -> None:
    """File a message under the clinic and lab that sent it."""
    InboundMessage.objects.filter(pk=received.id).update(tenant_id=partner.tenant_id, partner=partner)
    received.tenant_id, received.partner_id = partner.tenant_id, partner.pk


def record_charted(
    received: Received,
    partner: LabPartner,
    outcome: Outcome,
    *,
    ack_control_id: str,
    committed_at: datetime,
    acknowledged_at: datetime | None,
) -> None:
    """The outcome of a charted result and the AA that will say it, written in the clinical
    transaction (one statement), so the store and the chart cannot disagree."""
    with prepared_cursor() as cursor:
        cursor.execute(
            OUTCOME_SQL,
            [
                partner.tenant_id,
                partner.pk,
                outcome.status,
                json.dumps(outcome.produced),
                outcome.event_ids,
                outcome.patient_id,
                outcome.held_id,
                committed_at,
                outcome.accessions,
                outcome.placer_numbers,
                outcome.text[:2000],
                ack_control_id,
                acknowledged_at,
                received.id,
            ],
        )


def record_processed(received: Received, *, produced: dict[str, Any], patient_id: str | None) -> None:
    """A patient registration, update or merge committed (in its transaction)."""
    InboundMessage.objects.filter(pk=received.id).update(
        status=Status.PROCESSED, produced=produced, patient_id=patient_id, committed_at=timezone.now()
    )


def record_answer(
    received: Received,
    partner: LabPartner | None,
    outcome: Outcome,
    *,
    ack_control_id: str,
    acknowledged_at: datetime | None,
) -> None:
    """The ACK given, and the outcome when the commit did not write it (refusals)."""
    update: dict[str, Any] = {
        "ack_code": outcome.code,
        "ack_text": outcome.text[:2000],
        "ack_control_id": ack_control_id,
        "errors": [p.as_json() for p in outcome.problems],
    }
    if outcome.accessions or outcome.placer_numbers:
        update["accessions"] = outcome.accessions
        update["placer_numbers"] = outcome.placer_numbers
    if not outcome.committed:
        update["status"] = outcome.status
        update["duplicate_of_id"] = outcome.duplicate_of
    if acknowledged_at is not None:
        update["acknowledged_at"] = acknowledged_at
    if partner is not None:
        update["tenant_id"], update["partner_id"] = partner.tenant_id, partner.pk
    InboundMessage.objects.filter(pk=received.id).update(**update)


def mark_acknowledged(acknowledged: list[tuple[int, datetime]]) -> None:
    """Record when ACKs were handed to their senders (MLLP: after the socket write), in one
    statement for a batch."""
    if not acknowledged:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")  # bookkeeping: no wait for the disk
        cursor.execute(ACKNOWLEDGED_SQL, [[i for i, _ in acknowledged], [at for _, at in acknowledged]])


def mark_reprocessed(*, message_id: int, original_id: int) -> None:
    InboundMessage.objects.filter(pk=message_id).update(reprocess_of_id=original_id)


def mark_released(*, held_id: UUID, produced: dict[str, Any], status: str) -> int:
    """A held result was charted: its messages are processed now (``result.released``)."""
    return InboundMessage.objects.filter(held_id=held_id, status=Status.HELD).update(
        status=Status.DUPLICATE if status == ChartStatus.DUPLICATE else Status.PROCESSED,
        produced=produced,
        event_ids=produced.get("events", []),
        patient_id=produced.get("patient"),
        committed_at=timezone.now(),
    )
