"""The kernel's hand-written SQL (clinic/sql.py) names only columns that the models and the
migrated schema have, and its inserts give every required column: a migration cannot drift from
it unnoticed."""

from __future__ import annotations

import dataclasses

import pytest
from django.apps import apps
from django.db import connection, models

from clinic import sql
from clinic.contracts import Event

pytestmark = pytest.mark.django_db

STATEMENTS = {f"{s.table}: {s.sql[:40]}": s for s in sql.STATEMENTS}


def model_of(table: str) -> type[models.Model]:
    return next(m for m in apps.get_models() if m._meta.db_table == table)


def schema_of(table: str) -> dict[str, tuple[bool, bool]]:
    """column -> (required, has a database default) in the migrated table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, is_nullable = 'NO', column_default IS NOT NULL OR is_identity = 'YES'"
            " FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s",
            [table],
        )
        return {name: (required, defaulted) for name, required, defaulted in cursor.fetchall()}


@pytest.mark.parametrize("statement", STATEMENTS.values(), ids=STATEMENTS.keys())
def test_every_column_the_sql_names_is_a_column_of_the_model_and_of_the_table(statement):
    model_columns = {f.column for f in model_of(statement.table)._meta.concrete_fields}
    table_columns = set(schema_of(statement.table))

    assert set(statement.columns) - model_columns == set()
    assert set(statement.columns) - table_columns == set()
    assert all(column in statement.sql for column in statement.columns)


@pytest.mark.parametrize("statement", [s for s in sql.STATEMENTS if s.inserted], ids=lambda s: s.table)
def test_every_insert_gives_every_required_column(statement):
    model = model_of(statement.table)
    required_by_model = {
        f.column for f in model._meta.concrete_fields if not f.null and not isinstance(f, models.AutoField)
    }
    required_by_table = {
        c for c, (required, defaulted) in schema_of(statement.table).items() if required and not defaulted
    }

    assert required_by_model - set(statement.inserted) == set()
    assert required_by_table - set(statement.inserted) == set()


@pytest.mark.parametrize("statement", [s for s in sql.STATEMENTS if s.conflict_target], ids=lambda s: s.table)
def test_an_on_conflict_target_is_a_unique_constraint_of_the_model(statement):
    model = model_of(statement.table)
    unique = [
        tuple(model._meta.get_field(name).column for name in c.fields)
        for c in model._meta.constraints
        if isinstance(c, models.UniqueConstraint) and c.condition is None
    ]

    assert statement.conflict_target in unique


def test_the_relay_reads_every_field_of_the_event_contract():
    assert {f.name for f in dataclasses.fields(Event)} <= set(sql.EVENT_COLUMNS)


def test_the_check_catches_a_column_the_model_does_not_have():
    renamed = dataclasses.replace(sql.EVENT, columns=(*sql.EVENT.columns, "happened_at"))

    with pytest.raises(AssertionError):
        test_every_column_the_sql_names_is_a_column_of_the_model_and_of_the_table(renamed)
