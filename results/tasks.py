"""Celery entry points of results: load by id, call one service, idempotent."""

from __future__ import annotations

from celery import shared_task

from results import services


@shared_task(name="results.retry_held", acks_late=True, ignore_result=True)
def retry_held() -> int:
    """Beat: try the held results again (a backstop for missed releases)."""
    return services.retry_held()
