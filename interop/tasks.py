"""Celery entry points of interop."""

from __future__ import annotations

from celery import Task, shared_task

from interop import services
from interop.models import OutboundMessage


@shared_task(name="interop.send_outbound", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def send_outbound(self: Task, *, message_id: int) -> str:  # type: ignore[type-arg]
    status = services.send_message(message_id=message_id)
    if status == OutboundMessage.Status.PENDING and not self.request.is_eager:
        message = OutboundMessage.objects.filter(pk=message_id).values_list("attempts", flat=True).first() or 1
        raise self.retry(countdown=services.retry_delay(message))
    return status


@shared_task(name="interop.sweep_outbound", acks_late=True, ignore_result=True)
def sweep_outbound() -> int:
    return services.sweep_outbound()
