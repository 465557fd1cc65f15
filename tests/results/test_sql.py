"""results' hot SQL (results/sql.py) against the models and the migrated schema: a migration that
adds, drops or renames a column, or a business key, fails here until sql.py says what it is."""

from __future__ import annotations

import pytest
from django.db import connection

from clinic.db import insert_plan
from results import sql
from results.models import DiagnosticReport, HeldResult, Observation
from tests.clinic.factories import TenantFactory
from tests.results.factories import HeldResultFactory, ResultMessageFactory

pytestmark = pytest.mark.django_db

INSERTS = [
    (DiagnosticReport, sql.REPORT_KEY),
    (Observation, sql.OBSERVATION_KEY),
    (HeldResult, sql.HELD_KEY),
]


def migrated_columns(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


def migrated_unique_constraint(table: str, name: str) -> list[str]:
    """The columns of unique constraint ``name`` of ``table`` (empty if there is none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_constraint c"
            " JOIN unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) ON true"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
            " WHERE c.conname = %s AND c.conrelid = %s::regclass AND c.contype = 'u' ORDER BY k.n",
            [name, table],
        )
        return [column for (column,) in cursor.fetchall()]


def model_columns(model) -> list[str]:
    return [f.column for f in model._meta.concrete_fields]


@pytest.mark.parametrize(("model", "constraint"), INSERTS, ids=lambda v: getattr(v, "__name__", v))
def test_each_insert_writes_every_column_of_the_migrated_table(model, constraint):
    plan = insert_plan(model, constraint)

    assert sorted(plan.columns) == sorted(migrated_columns(model._meta.db_table))
    assert plan.sql.startswith(f'INSERT INTO "{model._meta.db_table}" (')


@pytest.mark.parametrize(("model", "constraint"), INSERTS, ids=lambda v: getattr(v, "__name__", v))
def test_each_insert_skips_conflicts_on_a_unique_constraint_of_the_migrated_table(model, constraint):
    assert migrated_unique_constraint(model._meta.db_table, constraint) != []


@pytest.mark.parametrize(
    ("model", "content", "fixed", "constraint"),
    [
        (DiagnosticReport, sql.REPORT_CONTENT_COLUMNS, sql.REPORT_FIXED_COLUMNS, sql.REPORT_KEY),
        (Observation, sql.OBSERVATION_CONTENT_COLUMNS, sql.OBSERVATION_FIXED_COLUMNS, sql.OBSERVATION_KEY),
    ],
    ids=["report", "observation"],
)
def test_every_column_is_either_content_a_later_version_replaces_or_fixed(model, content, fixed, constraint):
    assert sorted([*content, *fixed]) == sorted(model_columns(model))  # each exactly once
    assert sorted(model_columns(model)) == sorted(migrated_columns(model._meta.db_table))
    # A business key column never changes with a new version (the key is how it was found).
    key = migrated_unique_constraint(model._meta.db_table, constraint)
    assert set(key) - {"report_id"} <= set(fixed)


def test_the_held_insert_stores_arrays_and_json_as_given_and_returns_only_what_it_inserted():
    tenant = TenantFactory()
    awkward = ResultMessageFactory(source='say "hi" \\ {curly}, comma')
    row = HeldResultFactory.build(tenant=tenant, message=awkward, patient_keys=['a"b', "c\\d", "e,f", "{g}"])

    first = sql.insert_new_held([row])
    again = sql.insert_new_held([HeldResultFactory.build(tenant=tenant, message=awkward)])

    assert first == {row.id} and again == set()  # same content: skipped on the business key
    stored = HeldResult.objects.get(pk=row.id)
    assert stored.patient_keys == ['a"b', "c\\d", "e,f", "{g}"]
    assert stored.payload == awkward.to_json()
    assert stored.created_at is not None and stored.last_tried_at is not None  # auto_now_add, as save() would
