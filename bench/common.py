"""What every benchmark shares: its own database and queue namespace, and percentiles."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url() -> str:
    """``<DATABASE_URL database>_bench``: benchmarks never touch development or test data."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    if parts.path.rstrip("/").endswith("_bench"):
        return os.environ["DATABASE_URL"]
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_bench"))


def ensure_database(url: str) -> None:
    """Create the database of ``url`` if it is missing (``scripts/devdb.py``, as ``make`` does)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import devdb

    devdb.ensure_database(url)


def setup_django() -> str:
    """Point this process at the bench database (created and migrated), set Django up, and
    return the database URL (for raw-SQL floors and child processes)."""
    sys.path.insert(0, str(ROOT))
    url = bench_database_url()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("CLINIC_QUEUE_PREFIX", f"bench-{uuid.uuid4().hex[:6]}-")
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CLINIC_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_DEBUG", "0")  # DEBUG keeps every query in memory
    ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def psycopg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
