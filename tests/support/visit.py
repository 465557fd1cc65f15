"""Helpers the visit tests share (encounters, billing, orders and the cross-context flows)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, models


@dataclass(frozen=True)
class SchemaColumn:
    name: str
    nullable: bool
    has_default: bool  # a DEFAULT, an identity or a serial: an INSERT may leave it out


def schema_columns(table: str) -> dict[str, SchemaColumn]:
    """The columns of ``table`` as the migrations made them (information_schema)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, is_nullable = 'YES', column_default IS NOT NULL OR is_identity = 'YES'"
            " FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s",
            [table],
        )
        return {name: SchemaColumn(name, nullable, has_default) for name, nullable, has_default in cursor.fetchall()}


def unknown_columns(table: str, columns: tuple[str, ...] | list[str]) -> list[str]:
    """The columns a statement names that ``table`` does not have."""
    present = schema_columns(table)
    return [c for c in columns if c not in present]


def unfilled_columns(table: str, inserted: tuple[str, ...] | list[str]) -> list[str]:
    """The columns of ``table`` an INSERT naming ``inserted`` leaves out although the schema
    gives them neither NULL nor a default: the INSERT would fail, or the model would need a
    value the hand-written statement never sets."""
    return sorted(
        c.name
        for c in schema_columns(table).values()
        if c.name not in inserted and not c.nullable and not c.has_default
    )


def model_columns(model: type[models.Model]) -> list[str]:
    return sorted(f.column for f in model._meta.concrete_fields)
