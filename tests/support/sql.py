"""Checking an app's hand-written SQL (its ``<app>/sql.py``) against the models and the migrated
schema, so that a migration cannot drift from it unnoticed.

- ``statements(module)``: the statements of a module (its upper-case string constants that
  start with SELECT, INSERT, UPDATE, DELETE or WITH).
- ``unknown_columns(sql)``: each ``alias.column``, INSERT column list, ON CONFLICT target and
  SET target that is not a concrete column of the model whose table it names.
- ``missing_insert_columns(sql)``: the model's columns an INSERT leaves out (besides its
  primary key): a column added to the model must be added to the statement.
- ``result_columns(sql, params)``: run the statement (in a savepoint, rolled back) against the
  test database, which migrations built, and return the names of its result columns.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from django.apps import apps
from django.db import connection, models, transaction

_KEYWORDS = {"on", "where", "set", "join", "left", "right", "inner", "outer", "group", "order", "limit", "using"}
_STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


def statements(module: ModuleType) -> dict[str, str]:
    return {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and _STATEMENT.match(value)
    }


def _models_by_table() -> dict[str, type[models.Model]]:
    return {model._meta.db_table: model for model in apps.get_models()}


def columns_of(model: type[models.Model]) -> set[str]:
    return {field.column for field in model._meta.concrete_fields}


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _insert(sql: str) -> tuple[str, list[str]] | None:
    found = re.search(r"INSERT\s+INTO\s+(\w+)\s*\(([^)]*)\)", sql, re.IGNORECASE)
    if found is None:
        return None
    return found.group(1), [c.strip() for c in found.group(2).split(",")]


def referenced_columns(sql: str) -> list[tuple[str, str]]:
    """(table, column) for every column the statement names in a way we can attribute to a table."""
    tables = _models_by_table()
    aliases: dict[str, str] = {table: table for table in tables}
    for table, alias in re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", sql, re.IGNORECASE):
        if table in tables:
            aliases[table] = table
            if alias and alias.lower() not in _KEYWORDS:
                aliases[alias] = table
    found: list[tuple[str, str]] = []
    insert = _insert(sql)
    if insert is not None:
        table, names = insert
        aliases["EXCLUDED"] = aliases["excluded"] = table
        found += [(table, name) for name in names]
        conflict = re.search(r"ON\s+CONFLICT\s*\(([^)]*)\)", sql, re.IGNORECASE)
        if conflict:
            found += [(table, c.strip()) for c in conflict.group(1).split(",")]
    for alias, column in re.findall(r"\b(\w+)\.(\w+)\b", sql):
        if alias in aliases:
            found.append((aliases[alias], column))
    # SET targets: of the UPDATE's table, or of the INSERT's for ON CONFLICT DO UPDATE.
    target = insert[0] if insert else None
    update = re.search(r"\bUPDATE\s+(\w+)", sql, re.IGNORECASE)
    if update and update.group(1) in tables:
        target = update.group(1)
    for assignments in re.findall(r"\bSET\s+(.*?)(?=\bFROM\b|\bWHERE\b|\bRETURNING\b|$)", sql, re.IGNORECASE | re.S):
        for assignment in _split_top_level(assignments):
            name = assignment.split("=", 1)[0].strip()
            if target and re.fullmatch(r"\w+", name):
                found.append((target, name))
    return found


def unknown_columns(sql: str) -> list[str]:
    tables = _models_by_table()
    return sorted(
        {f"{table}.{column}" for table, column in referenced_columns(sql) if column not in columns_of(tables[table])}
    )


def missing_insert_columns(sql: str) -> list[str]:
    insert = _insert(sql)
    assert insert is not None, "not an INSERT"
    table, names = insert
    model = _models_by_table()[table]
    return sorted(columns_of(model) - set(names) - {model._meta.pk.column})


class _RollBack(Exception):
    pass


def result_columns(sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[str]:
    names: list[str] = []
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            names = [column.name for column in cursor.description or []]
            raise _RollBack
    except _RollBack:
        pass
    return names
