"""The raw SQL of encounters, all of it in this module.

Paths every event and every lab result takes run single statements without the ORM (ADR 0005):
the timeline append, the "where is the patient now" lookup. Table and column names are read
from the models (``Model._meta``), never written by hand, so a renamed field follows its model;
``tests/encounters/test_sql.py`` checks every statement against the migrated schema and fails
when a model gains a column the timeline insert does not fill.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from django.db import connection, models

from clinic.db import prepared_cursor
from encounters.contracts import EncounterStatus
from encounters.models import Encounter, TimelineEntry


def column(model: type[models.Model], field_name: str) -> str:
    """The database column of a field (by name or attname) of ``model``."""
    field = model._meta.get_field(field_name)
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{model.__name__}.{field_name} has no column")
    return field.column


def columns(model: type[models.Model], *field_names: str) -> tuple[str, ...]:
    return tuple(column(model, name) for name in field_names)


ENCOUNTER = Encounter._meta.db_table
TIMELINE = TimelineEntry._meta.db_table


# --- Visit numbers ------------------------------------------------------------------------------

VISIT_SEQUENCE = "encounters_visit_seq"  # created by migration 0002
_NEXT_VISIT_SQL = f"SELECT nextval('{VISIT_SEQUENCE}')"


def next_visit_number() -> int:
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_VISIT_SQL)
        (number,) = cursor.fetchone()
    return int(number)


# --- Where the patient is now -------------------------------------------------------------------

_e = partial(column, Encounter)
ACTIVE_ENCOUNTERS_SQL = (
    f"SELECT {_e('id')} FROM {ENCOUNTER}"  # noqa: S608  # names from the models, values bound
    f" WHERE {_e('tenant')} = %s AND {_e('patient')} = %s AND {_e('status')} = %s"
    f" ORDER BY {_e('period_start')}, {_e('id')}"
)


def active_encounter_ids(*, tenant_id: int, patient_id: UUID) -> list[UUID]:
    """The patient's encounters in progress at any site, oldest first."""
    with prepared_cursor() as cursor:  # every lab result asks: prepared once per connection
        cursor.execute(ACTIVE_ENCOUNTERS_SQL, [tenant_id, patient_id, EncounterStatus.IN_PROGRESS.value])
        return [row[0] for row in cursor.fetchall()]


# --- The timeline -------------------------------------------------------------------------------


def lock_timeline(encounter_id: UUID) -> None:
    """Take the encounter's timeline lock until the transaction ends: entries of one encounter
    are appended one at a time (so ``seq`` is also their commit order), and a rebuild waits for
    appends. An advisory lock, not the encounter's row lock: clinical steps holding the
    encounter (an order being placed) must not hold up the timeline."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_timeline_lock_id(encounter_id)])


def _timeline_lock_id(encounter_id: UUID) -> int:
    return int.from_bytes(
        hashlib.sha256(f"encounters.timeline|{encounter_id}".encode()).digest()[:8], "big", signed=True
    )


# What the timeline insert writes into each column (by field name); ``e`` is the encounter's
# row, so an encounter that does not exist inserts nothing. Left to their defaults: ``id`` and
# ``pushed_at`` (set after the live push).
_t = partial(column, TimelineEntry)
TIMELINE_APPEND_VALUES = {
    "tenant": "%(tenant_id)s",
    "encounter": f"e.{_e('id')}",
    "event_id": "%(event_id)s",
    "type": "%(type)s",
    "occurred_at": "%(occurred_at)s",
    "recorded_at": "%(recorded_at)s",
    "summary": "%(summary)s",
    "reference": "%(reference)s",
    "data": "%(data)s::jsonb",
    "created_at": "now()",
    "seq": (
        f"COALESCE((SELECT MAX(t.{_t('seq')}) FROM {TIMELINE} t WHERE t.{_t('encounter')} = e.{_e('id')}), 0) + 1"  # noqa: S608
    ),
}
TIMELINE_APPEND_SQL = (
    f"INSERT INTO {TIMELINE} ({', '.join(columns(TimelineEntry, *TIMELINE_APPEND_VALUES))})"  # noqa: S608
    f" SELECT {', '.join(TIMELINE_APPEND_VALUES.values())}"
    f" FROM {ENCOUNTER} e WHERE e.{_e('id')} = %(encounter_id)s"
    f" ON CONFLICT ({_t('encounter')}, {_t('event_id')}) DO NOTHING"
    f" RETURNING {_t('id')}, {_t('seq')}"
)


def append_timeline_entry(
    *,
    tenant_id: int,
    encounter_id: UUID,
    event_id: UUID,
    event_type: str,
    occurred_at: datetime,
    recorded_at: datetime,
    summary: str,
    reference: str,
    data: str,
) -> tuple[int, int] | None:
    """Insert the entry after the encounter's last (``data`` is JSON text); returns its (id,
    seq), or None when the event is on this timeline already. Run under ``lock_timeline``."""
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "encounter_id": encounter_id,
        "event_id": event_id,
        "type": event_type,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "summary": summary,
        "reference": reference,
        "data": data,
    }
    with connection.cursor() as cursor:
        cursor.execute(TIMELINE_APPEND_SQL, params)
        row = cursor.fetchone()
    return (row[0], row[1]) if row is not None else None


RECORD_PUSHED_SQL = f"UPDATE {TIMELINE} SET {_t('pushed_at')} = %s WHERE {_t('id')} = %s"  # noqa: S608


def record_pushed_at(*, entry_id: int, pushed_at: datetime) -> None:
    """Note when the entry reached live viewers, without waiting for the disk: bookkeeping for
    support (losing it in a crash loses a timestamp, never an entry). Run in a transaction of
    its own: ``synchronous_commit`` is set for it alone."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(RECORD_PUSHED_SQL, [pushed_at, entry_id])
