"""Celery entry points of interop."""

from __future__ import annotations

from celery import Task, shared_task

from interop.models import OutboundMessage
from interop.v2 import outbound_orders


@shared_task(name="interop.send_outbound", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def send_outbound(self: Task, *, message_id: int) -> str:  # type: ignore[type-arg]
    status = outbound_orders.send_message(message_id=message_id)
    if status == OutboundMessage.Status.PENDING and not self.request.is_eager:
        raise self.retry(countdown=outbound_orders.next_retry_delay(message_id=message_id))
    return status


@shared_task(name="interop.sweep_outbound", acks_late=True, ignore_result=True)
def sweep_outbound() -> int:
    return outbound_orders.sweep_outbound()
