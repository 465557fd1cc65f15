"""Commands fail fast, in one sentence, when ``DATABASE_URL`` names a database that cannot be
reached (a missing database, a server that is down, a wrong password), instead of a pool
retrying for its timeout and a traceback. ``manage.py`` uses it; settings never connect."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit, urlunsplit

CONNECT_TIMEOUT_SECONDS = 5


class DatabaseUnreachable(Exception):
    """The database of ``DATABASE_URL`` cannot be connected to; the message says why and what to do."""


def shown_url(url: str) -> str:
    """The URL without its password (it goes to a terminal or a log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))


def explain(url: str, reason: str) -> str:
    """The sentence a command prints when it cannot connect to ``url`` because of ``reason``."""
    reason = " ".join(reason.split()).rstrip(".")
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    hint = (
        f"Create it (e.g. `createdb -h {parts.hostname or '127.0.0.1'} -U {parts.username or 'postgres'} {name}`), "
        "or run the command through `.venv/bin/python scripts/dev.py exec -- <command>` (as the make targets do), "
        "which creates a missing database."
        if "does not exist" in reason
        else "Check that the PostgreSQL server is running and that DATABASE_URL is right."
    )
    return f"cannot connect to the database of DATABASE_URL ({shown_url(url)}): {reason}. {hint}"


def is_connection_failure(exc: BaseException) -> bool:
    """A failure to connect at all (not an error of a query on a working connection)."""
    if type(exc).__name__ == "PoolTimeout":  # psycopg_pool: no connection could be made in time
        return True
    text = str(exc)
    return text.startswith(("connection failed", "connection to server")) or "could not connect" in text


def check_reachable() -> None:
    """With a connection pool configured (``CLINIC_DB_POOL_MAX``), connect once with a short
    timeout before the command starts: the pool would retry for its whole timeout, logging a
    warning per attempt, before failing with a traceback. Raises DatabaseUnreachable."""
    url = os.environ.get("DATABASE_URL", "")
    if not url or int(os.environ.get("CLINIC_DB_POOL_MAX", "0") or 0) <= 0:
        return
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(explain(url, _reason(exc))) from exc


def _reason(exc: BaseException) -> str:
    """The server's own words (``FATAL:  database "x" does not exist``), else the error's."""
    text = str(exc)
    if "FATAL:" in text:
        return text.split("FATAL:", 1)[1].strip()
    return text.split("failed:", 1)[-1].strip() if "failed:" in text else text


def describe_failure(exc: BaseException) -> str | None:
    """The sentence for a command that failed because it could not connect (Django's
    OperationalError, psycopg_pool's PoolTimeout), else None."""
    from django.db import OperationalError

    if not isinstance(exc, OperationalError) and type(exc).__name__ != "PoolTimeout":
        return None
    if not is_connection_failure(exc) and not (exc.__cause__ and is_connection_failure(exc.__cause__)):
        return None
    return explain(os.environ.get("DATABASE_URL", ""), _reason(exc))
