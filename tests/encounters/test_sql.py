"""The raw SQL of encounters (encounters/sql.py) against the migrated schema: a migration that
drops, renames or adds a column the statements depend on fails here first."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from encounters import sql
from encounters.contracts import EncounterStatus
from encounters.models import Encounter, TimelineEntry
from tests.clinic.factories import TenantFactory
from tests.encounters.factories import EncounterFactory, TimelineEntryFactory
from tests.support.visit import model_columns, schema_columns, unfilled_columns, unknown_columns

pytestmark = pytest.mark.django_db

TIMELINE_INSERTED = sql.columns(TimelineEntry, *sql.TIMELINE_APPEND_VALUES)


@pytest.mark.parametrize("model", [Encounter, TimelineEntry])
def test_the_tables_the_sql_uses_have_exactly_the_models_columns(model):
    assert sorted(schema_columns(model._meta.db_table)) == model_columns(model)


def test_every_column_the_timeline_insert_names_exists():
    assert unknown_columns(sql.TIMELINE, TIMELINE_INSERTED) == []


def test_the_timeline_insert_fills_every_column_but_the_id_and_the_push_time():
    assert unfilled_columns(sql.TIMELINE, TIMELINE_INSERTED) == []
    assert sorted(set(model_columns(TimelineEntry)) - set(TIMELINE_INSERTED)) == ["id", "pushed_at"]


def test_the_checks_catch_a_column_list_that_drifted_from_the_schema():
    assert unknown_columns(sql.TIMELINE, ["summary", "headline"]) == ["headline"]
    assert unfilled_columns(sql.TIMELINE, [c for c in TIMELINE_INSERTED if c != "summary"]) == ["summary"]


def append(encounter: Encounter, event_id: uuid.UUID):
    now = timezone.now()
    with transaction.atomic():
        sql.lock_timeline(encounter.pk)
        return sql.append_timeline_entry(
            tenant_id=encounter.tenant_id,
            encounter_id=encounter.pk,
            event_id=event_id,
            event_type="encounter.started",
            occurred_at=now,
            recorded_at=now,
            summary="Consultation started",
            reference=f"encounter:{encounter.pk}",
            data=json.dumps({"encounter_id": str(encounter.pk)}),
        )


def test_an_appended_entry_reads_back_through_the_model_once_per_event_in_sequence():
    encounter = EncounterFactory()
    first, second = uuid.uuid4(), uuid.uuid4()

    entry_id, seq = append(encounter, first)
    again = append(encounter, first)
    _next_id, next_seq = append(encounter, second)

    entry = TimelineEntry.objects.get(pk=entry_id)
    assert (entry.encounter_id, entry.event_id, entry.type, entry.summary, entry.data) == (
        encounter.pk,
        first,
        "encounter.started",
        "Consultation started",
        {"encounter_id": str(encounter.pk)},
    )
    assert (seq, again, next_seq) == (1, None, 2)
    assert entry.pushed_at is None


def test_an_entry_goes_after_the_last_one_already_there():
    earlier = TimelineEntryFactory(seq=7)

    _entry_id, seq = append(earlier.encounter, uuid.uuid4())

    assert seq == 8


def test_a_timeline_entry_for_a_missing_encounter_is_not_written():
    missing = EncounterFactory.build(tenant=TenantFactory())

    assert append(missing, uuid.uuid4()) is None
    assert not TimelineEntry.objects.exists()


def test_the_push_time_is_recorded_on_the_entry():
    entry = TimelineEntryFactory()
    pushed_at = timezone.now()

    with transaction.atomic():
        sql.record_pushed_at(entry_id=entry.pk, pushed_at=pushed_at)

    entry.refresh_from_db()
    assert entry.pushed_at == pushed_at


def test_the_encounters_in_progress_of_a_patient_are_listed_oldest_first():
    later = EncounterFactory(period_start=timezone.now() - datetime.timedelta(minutes=5))
    same_patient = {"tenant": later.tenant, "patient_id": later.patient_id}
    earlier = EncounterFactory(**same_patient, period_start=timezone.now() - datetime.timedelta(minutes=30))
    EncounterFactory(**same_patient, status=EncounterStatus.FINISHED.value)
    EncounterFactory(tenant=later.tenant)  # another patient

    found = sql.active_encounter_ids(tenant_id=later.tenant_id, patient_id=later.patient_id)

    assert found == [earlier.pk, later.pk]


def test_visit_numbers_come_from_one_sequence():
    first, second = sql.next_visit_number(), sql.next_visit_number()

    assert second > first
