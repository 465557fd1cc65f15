"""The kernel's hand-written SQL, in one place: the event outbox's hot path (every event of every
clinical step is published, read and delivered through these statements; ADR 0005 measures why
they skip the ORM).

Each statement names its columns through the tuples below, and ``tests/clinic/test_sql.py``
fails when one of them no longer matches the model or the migrated schema (a renamed column, a
new required one).
"""

# The statements are built from the constant names below (tested against the schema), never from
# input: S608's "string-built SQL" does not apply.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass

OUTBOX = "clinic_outboxevent"  # clinic.models.OutboxEvent
DELIVERY = "clinic_eventdelivery"  # clinic.models.EventDelivery


@dataclass(frozen=True)
class Statement:
    """A statement and what it names: its table, every column it reads or writes, and (for an
    insert) the columns it gives values to, which must include every required column."""

    sql: str
    table: str
    columns: tuple[str, ...]
    inserted: tuple[str, ...] = ()
    conflict_target: tuple[str, ...] = ()  # ON CONFLICT (...): must be a unique constraint


def _names(columns: tuple[str, ...]) -> str:
    return ", ".join(columns)


# --- publish: the outbox row, written in the caller's transaction ------------------------------

# Every column but delivered_at (NULL until the relay has run every subscriber).
PUBLISH_COLUMNS = (
    "id",
    "type",
    "tenant_id",
    "patient_id",
    "encounter_id",
    "payload",
    "payload_version",
    "occurred_at",
    "recorded_at",
    "dispatched_at",
    "dispatch_count",
    "sweep_after",
)
PUBLISH = Statement(
    table=OUTBOX,
    columns=PUBLISH_COLUMNS,
    inserted=PUBLISH_COLUMNS,
    sql=f"INSERT INTO {OUTBOX} ({_names(PUBLISH_COLUMNS)})"
    f" VALUES ({', '.join('%s::jsonb' if c == 'payload' else '%s' for c in PUBLISH_COLUMNS)})",
)

# --- deliver: read the event, claim and record each subscriber's delivery ----------------------

# The event as subscribers receive it (clinic.contracts.Event), and whether it was delivered.
EVENT_COLUMNS = (
    "id",
    "type",
    "tenant_id",
    "payload",
    "occurred_at",
    "recorded_at",
    "patient_id",
    "encounter_id",
    "payload_version",
    "delivered_at",
)
EVENT = Statement(
    table=OUTBOX,
    columns=EVENT_COLUMNS,
    sql=f"SELECT {_names(EVENT_COLUMNS)} FROM {OUTBOX} WHERE id = %s",
)

MARK_DELIVERED = Statement(
    table=OUTBOX,
    columns=("delivered_at", "id"),
    sql=f"UPDATE {OUTBOX} SET delivered_at = %s WHERE id = %s AND delivered_at IS NULL",
)

# Claim the (event, subscriber) delivery row, locked, in one statement: the insert when it is
# new, the row (locked by the no-op update) when it exists. A concurrent delivery waits here.
CLAIM_INSERTED = ("event_id", "subscriber", "attempts", "last_error")
CLAIM_RETURNED = ("id", "attempts", "delivered_at")
CLAIM = Statement(
    table=DELIVERY,
    columns=(*CLAIM_INSERTED, *CLAIM_RETURNED),
    inserted=CLAIM_INSERTED,
    conflict_target=("event_id", "subscriber"),
    sql=f"INSERT INTO {DELIVERY} ({_names(CLAIM_INSERTED)}) VALUES (%s, %s, 0, '')"
    " ON CONFLICT (event_id, subscriber) DO UPDATE SET subscriber = EXCLUDED.subscriber"
    f" RETURNING {_names(CLAIM_RETURNED)}",
)

RECORD_DELIVERED = Statement(
    table=DELIVERY,
    columns=("attempts", "last_attempt_at", "last_error", "delivered_at", "id"),
    sql=f"UPDATE {DELIVERY} SET attempts = %s, last_attempt_at = %s, last_error = '', delivered_at = %s WHERE id = %s",
)

STATEMENTS = (PUBLISH, EVENT, MARK_DELIVERED, CLAIM, RECORD_DELIVERED)
