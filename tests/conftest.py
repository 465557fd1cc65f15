"""Fixtures shared by the whole suite: real PostgreSQL (pytest-django), real Redis behind a
switchable proxy, and a real Celery worker running in threads of this process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from tests import settings as test_settings
from tests.support.proxy import TcpProxy
from tests.support.worker import running_worker


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


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[str]:
    """The real ASGI application served by uvicorn in a thread of this process (so it uses the
    test database); yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from config.asgi import application

    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
