"""Celery entry points of the kernel: deliver one event, sweep the outbox.

Tasks are named explicitly, take JSON primitives, acknowledge late and reject on worker loss
(settings), and make one service call each.
"""

from __future__ import annotations

import logging
from uuid import UUID

from celery import Task, shared_task
from django.conf import settings

from clinic import outbox
from clinic.errors import NotFound

logger = logging.getLogger("clinic.events")


@shared_task(name="clinic.deliver_event", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def deliver_event(self: Task, *, event_id: str, retry: bool = True) -> None:  # type: ignore[type-arg]
    try:
        outcome = outbox.deliver_event(event_id=UUID(event_id))
    except NotFound:
        logger.error("event.not_found event=%s", event_id)
        return
    if outcome.complete:
        return
    delays = settings.CLINIC_EVENT_RETRY_DELAYS
    if not retry or self.request.is_eager or self.request.retries >= len(delays):
        # A sweep's re-dispatch, no broker to retry through, or retries exhausted: the outbox
        # sweep takes over, with a back-off that doubles per dispatch (capped).
        return
    countdown = delays[self.request.retries]
    outbox.postpone_sweep(event_id=UUID(event_id), seconds=countdown)
    raise self.retry(countdown=countdown)


@shared_task(name="clinic.sweep_outbox", acks_late=True, ignore_result=True)
def sweep_outbox() -> int:
    return outbox.sweep_outbox()
