"""``ENGINE = "config.no_database"``: Django's dummy backend, with a message that says what to do."""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.dummy import base as dummy
from django.db.backends.dummy.features import DummyDatabaseFeatures

MESSAGE = (
    "DATABASE_URL is not set, so there is no database. Either set it "
    "(e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinic), or run the command through "
    "`.venv/bin/python scripts/dev.py exec -- <command>` (as `make run`, `make pytest`, `make web`... do), "
    "which starts the embedded PostgreSQL under .data/pg and sets DATABASE_URL for it."
)


class DatabaseNotConfigured(ImproperlyConfigured):
    """The process has no database (``DATABASE_URL`` is unset)."""


def complain(*args: Any, **kwargs: Any) -> NoReturn:
    raise DatabaseNotConfigured(MESSAGE)


class DatabaseOperations(dummy.DatabaseOperations):
    quote_name = complain


class DatabaseClient(dummy.DatabaseClient):
    runshell = complain


class DatabaseIntrospection(dummy.DatabaseIntrospection):
    get_table_list = complain
    get_table_description = complain
    get_relations = complain
    get_indexes = complain


class DatabaseFeatures(DummyDatabaseFeatures):
    # What the models need of PostgreSQL, so that the system checks a command runs before its
    # first query do not warn about this stand-in instead of failing on the query.
    supports_nulls_distinct_unique_constraints = True


class DatabaseWrapper(dummy.DatabaseWrapper):
    vendor = "none"
    display_name = "no database (DATABASE_URL is unset)"
    _cursor = complain
    ensure_connection = complain
    _commit = complain
    _savepoint_commit = complain
    _set_autocommit = complain
    client_class = DatabaseClient
    features_class = DatabaseFeatures
    introspection_class = DatabaseIntrospection
    ops_class = DatabaseOperations
