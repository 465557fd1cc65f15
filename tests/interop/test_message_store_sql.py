"""The message store's hand-written SQL (``interop.v2.store``) against the model and the migrated
schema: a migration that renames, drops or adds a required column fails here, by name, rather
than on a lab's next delivery."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from interop.models import InboundMessage
from interop.v2 import store

pytestmark = pytest.mark.django_db

TABLE = InboundMessage._meta.db_table
# Words of the statements that are not columns: SQL, types, functions, and the aliases they define.
SQL_WORDS = {
    "and",
    "as",
    "bigint",
    "by",
    "coalesce",
    "from",
    "in",
    "insert",
    "into",
    "is",
    "join",
    "jsonb",
    "left",
    "limit",
    "not",
    "null",
    "on",
    "order",
    "returning",
    "select",
    "set",
    "timestamptz",
    "true",
    "unnest",
    "update",
    "uuid",
    "values",
    "varchar",
    "where",
    "with",
}
ALIASES = {"earlier", "stored", "m", "v", "at"}


def model_columns() -> set[str]:
    return {f.column for f in InboundMessage._meta.concrete_fields}


def schema_columns() -> dict[str, tuple[bool, bool]]:
    """Column → (nullable, has a default or is an identity) of the migrated table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, is_nullable = 'YES', column_default IS NOT NULL OR is_identity = 'YES'"
            " FROM information_schema.columns WHERE table_name = %s",
            [TABLE],
        )
        return {name: (nullable, default) for name, nullable, default in cursor.fetchall()}


def inserted_columns(sql: str) -> list[str]:
    (names,) = re.findall(rf"INSERT INTO {TABLE} \(([^)]*)\)", sql)
    return [name.strip() for name in names.split(",")]


def named_columns(sql: str) -> set[str]:
    """Every word of the statement that is not SQL, a type, a function, an alias or the table."""
    words = re.findall(r"[a-z_][a-z0-9_]*", re.sub(r"'[^']*'|%s", "", sql.lower()))
    return {w for w in words if w != TABLE} - SQL_WORDS - ALIASES


def test_the_model_and_the_migrated_schema_have_the_same_columns():
    assert model_columns() == set(schema_columns())


@pytest.mark.parametrize("name", sorted(store.STATEMENTS))
def test_every_column_a_store_statement_names_is_a_column_of_the_model(name):
    assert named_columns(store.STATEMENTS[name]) - model_columns() == set()


@pytest.mark.parametrize("name", ["store", "store_finding_earlier"])
def test_a_received_row_gives_every_column_the_schema_requires(name):
    inserted = inserted_columns(store.STATEMENTS[name])
    required = {column for column, (nullable, default) in schema_columns().items() if not nullable and not default}

    assert required - set(inserted) == set()
    assert len(inserted) == len(set(inserted))


def test_the_inserts_write_the_columns_of_a_delivery_and_the_empty_outcome():
    given = [*store.RECEIVED_COLUMNS, *store.RECEIVED_CONSTANTS]

    assert inserted_columns(store.STORE_SQL) == given
    assert inserted_columns(store.STORE_FINDING_EARLIER_SQL) == ["partner_id", *given]
    # The constants are the model's own defaults of a message not yet processed.
    defaults = {f.column: f.get_default() for f in InboundMessage._meta.concrete_fields}
    assert store.RECEIVED_CONSTANTS["status"] == f"'{defaults['status']}'"
    assert {c for c in store.RECEIVED_CONSTANTS if c != "status"} <= {c for c, d in defaults.items() if not d}


def test_the_sql_finds_a_column_it_does_not_know():
    assert named_columns(f"UPDATE {TABLE} SET acknowleged_at = %s WHERE id = %s") - model_columns() == {
        "acknowleged_at"
    }
