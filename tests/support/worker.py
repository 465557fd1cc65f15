"""A real Celery worker for tests: threads in this process, consuming this run's queues."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from config.celery import app as celery_app


@contextmanager
def running_worker(concurrency: int = 4) -> Iterator[object]:
    """A real Celery worker (threads) consuming this run's queues from the real broker.

    It runs in this process, so it sees the probe subscribers; it uses its own database
    connections, so tests using it need committed data (``transactional_db``)."""
    purge_queues()
    with start_worker(
        celery_app,
        pool="threads",
        concurrency=concurrency,
        perform_ping_check=False,
        queues=[settings.CLINIC_EVENTS_QUEUE, settings.CLINIC_DEFAULT_QUEUE],
        loglevel="WARNING",
        shutdown_timeout=15,
    ) as worker:
        yield worker


def purge_queues() -> None:
    """Empty this run's queues on the real Redis (not through the test proxy)."""
    direct = redis.Redis.from_url(settings.REDIS_URL)
    direct.delete(settings.CLINIC_EVENTS_QUEUE, settings.CLINIC_DEFAULT_QUEUE)
