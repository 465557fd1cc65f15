"""The web server's connection pool (CLINIC_DB_POOL_MAX): under ASGI every request runs in a new
thread, so without a pool each request opened a PostgreSQL session of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import connection

from tests.clinic.factories import TenantFactory, api_token
from tests.support.waiting import child_database_url

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def _sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        (count,) = cursor.fetchone()
    return int(count)


def _serve(pool_max: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": child_database_url(),
        "CLINIC_DB_POOL_MAX": str(pool_max),
        "CLINIC_FHIR_TOKEN_CACHE_SECONDS": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/fhir/metadata", timeout=1)
            return server, base
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("uvicorn did not start") from None
            time.sleep(0.1)


@pytest.mark.parametrize("pool_max", [0, 3])
def test_the_pool_serves_many_requests_on_a_few_sessions(pool_max: int):
    tenant = TenantFactory()
    token = api_token(tenant, scopes=["system/*.read"])
    server, base = _serve(pool_max)
    try:
        before = _sessions()
        headers = {"Authorization": f"Bearer {token}"}
        with ThreadPoolExecutor(6) as pool:
            statuses = list(
                pool.map(
                    lambda _: httpx.get(f"{base}/fhir/Organization", headers=headers, timeout=20).status_code, range(40)
                )
            )
        # Statistics reach pg_stat_database within a second of a backend's transaction.
        time.sleep(1.5)
        opened = _sessions() - before
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert statuses == [200] * 40
    if pool_max:
        assert opened <= pool_max  # the pool's sessions, reused by every request
    else:
        assert opened > 20  # about a session per request (39-40 of 40 here): why the web server has a pool
