"""Fixtures shared by the whole suite: real PostgreSQL (pytest-django), real Redis behind a
switchable proxy, a real Celery worker running in threads of this process, and the served stack
(front, request workers, stream server) as real processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from tests import settings as test_settings
from tests.support.proxy import TcpProxy
from tests.support.stack import Stack, start_stack
from tests.support.waiting import child_database_url
from tests.support.worker import running_worker

STACK_RECHECK_SECONDS = 0.5  # how often the stack's stream server re-checks credentials


@pytest.fixture(scope="session", autouse=True)
def broker_proxy() -> Iterator[TcpProxy]:
    """The application's only way to Redis. ``broker_proxy.down()`` makes Redis unreachable."""
    target = test_settings.REDIS_TARGET
    proxy = TcpProxy(
        listen_port=test_settings.BROKER_PROXY_PORT,
        target_host=target.hostname or "127.0.0.1",
        target_port=target.port or 6379,
    )
    proxy.up()
    yield proxy
    proxy.down()
    # Leave nothing behind on the shared Redis: this run's queues have a unique prefix.
    direct = redis.Redis.from_url(settings.REDIS_URL)
    for key in direct.scan_iter(f"{settings.CLINIC_QUEUE_PREFIX}*"):
        direct.delete(key)


@pytest.fixture
def broker_up(broker_proxy: TcpProxy) -> Iterator[TcpProxy]:
    """Redis reachable at the start of the test and again at its end, whatever the test did."""
    broker_proxy.up()
    yield broker_proxy
    broker_proxy.up()


@pytest.fixture
def celery_worker(broker_up: TcpProxy, transactional_db: None) -> Iterator[object]:
    with running_worker() as worker:
        yield worker


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture(scope="session")
def served_stack(
    django_db_setup: None, broker_proxy: TcpProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The product as ``make run`` serves it (the front, gunicorn and the stream server as real
    processes; tests/support/stack.py), against the test database. Started once per session, on
    first use. Its processes have caches of their own (Django's local-memory cache, lookups):
    tests that change what those remember must not read it through this stack."""
    stack = start_stack(
        database_url=child_database_url(),
        env={
            "REDIS_URL": settings.CELERY_BROKER_URL,  # through the test proxy, like the app's
            "CLINIC_QUEUE_PREFIX": settings.CLINIC_QUEUE_PREFIX,
            "CLINIC_FHIR_TOKEN_CACHE_SECONDS": "0",
            "CLINIC_HL7_SENDER_CACHE_SECONDS": "0",
            "CLINIC_FHIR_PAGING_GRACE_SECONDS": "0",
            "CLINIC_STREAM_RECHECK_SECONDS": str(STACK_RECHECK_SECONDS),
            # The front notices a client gone only when it next writes to it: a heartbeat a second
            # frees a closed stream's subscription within a second.
            "CLINIC_STREAM_HEARTBEAT_SECONDS": "1",
        },
        logs=tmp_path_factory.mktemp("served-stack"),
    )
    yield stack
    stack.stop()


@pytest.fixture
def front_url(served_stack: Stack, transactional_db: None) -> str:
    """The base URL of the served stack's front (one origin for requests and streams). The
    processes read the test database, so the test's data is committed (``transactional_db``)."""
    return served_stack.url
