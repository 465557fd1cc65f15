"""The transactional event outbox and its relay.

- ``publish`` writes an event in the caller's transaction and, after commit, hands it to the
  broker (``dispatch_event``: the Celery task ``clinic.deliver_event``).
- ``deliver_event`` (the relay) runs each subscriber registered for the event's type
  (``clinic.events``) once: its effect commits together with its delivery record.
- Retries: a failing subscriber is retried by the task with short delays
  (``CLINIC_EVENT_RETRY_DELAYS``; ``postpone_sweep`` keeps the sweep away meanwhile), then by
  ``sweep_outbox``, which re-dispatches undelivered events with a doubling back-off; the sweep
  also delivers events that missed the broker (Redis down at commit time).

The SQL of the hot path is in ``clinic.sql``. Errors are in ``clinic.errors``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID, uuid4

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from clinic import events, sql
from clinic.contracts import DeliveryOutcome, Event, EventPayload
from clinic.db import prepared_cursor
from clinic.errors import FieldProblem, InvalidEvent, NotFound, PublishOutsideTransaction
from clinic.models import EventDelivery, OutboxEvent

logger = logging.getLogger("clinic.events")


# --- Publish ------------------------------------------------------------------------------------


def publish(
    payload: EventPayload,
    *,
    tenant_id: int,
    patient_id: UUID | None = None,
    encounter_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Write an event to the outbox inside the caller's transaction and deliver it after commit.

    ``payload`` is the event's typed payload: its class, the registered contract of the event
    type, names the type and the version, and says what each field holds. A rolled-back
    transaction publishes nothing. Raises PublishOutsideTransaction when called outside
    ``transaction.atomic``; UnknownEventType for a type with no registered contract (or a
    payload of another class than the registered one); InvalidEvent for a payload that does not
    match its contract.
    """
    if not isinstance(payload, EventPayload):
        raise InvalidEvent(
            f"publish takes an event's typed payload (an EventPayload), not a {type(payload).__name__}.",
            [FieldProblem("payload", "use the event type's contract")],
        )
    event_type = payload.event_type
    if not connection.in_atomic_block:
        raise PublishOutsideTransaction(f"publish({event_type!r}) must run inside transaction.atomic")
    # The contract's JSON (UUIDs, times, amounts as text): what the database stores and
    # subscribers read.
    data = events.encode(payload)
    version = payload.event_version
    now = timezone.now()
    event = Event(
        id=uuid4(),
        type=event_type,
        tenant_id=tenant_id,
        payload=data,
        occurred_at=occurred_at or now,
        recorded_at=now,
        patient_id=patient_id,
        encounter_id=encounter_id,
        payload_version=version,
    )
    row = {
        "id": event.id,
        "type": event_type,
        "tenant_id": tenant_id,
        "patient_id": patient_id,
        "encounter_id": encounter_id,
        "payload": json.dumps(data),
        "payload_version": version,
        "occurred_at": event.occurred_at,
        "recorded_at": now,
        "dispatched_at": now,
        "dispatch_count": 1,
        "sweep_after": now + timedelta(seconds=settings.CLINIC_OUTBOX_SWEEP_GRACE_SECONDS),
    }
    # One statement, no ORM: clinical steps publish on their hot path (a lab result, an order).
    with prepared_cursor() as cursor:
        cursor.execute(sql.PUBLISH.sql, [row[column] for column in sql.PUBLISH_COLUMNS])
    transaction.on_commit(partial(dispatch_event, event_id=event.id), robust=True)
    return event


def as_contract(row: OutboxEvent) -> Event:
    """The event of an outbox row, as subscribers receive it."""
    return Event(
        id=row.id,
        type=row.type,
        tenant_id=row.tenant_id,
        payload=row.payload,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        patient_id=row.patient_id,
        encounter_id=row.encounter_id,
        payload_version=row.payload_version,
    )


# --- Dispatch: hand events to the broker --------------------------------------------------------


def dispatch_event(*, event_id: UUID, retry: bool = True) -> bool:
    """Hand an event to the broker. Returns False (and logs) when the broker is unreachable:
    the event stays in the outbox and the sweep dispatches it later.

    ``retry``: whether the delivery task retries a failing subscriber by itself (the first
    dispatch does, with short delays; a sweep's re-dispatch does not: the sweep's doubling
    back-off paces those attempts)."""
    from clinic.tasks import deliver_event  # tasks import this module; import here to avoid a cycle

    try:
        deliver_event.apply_async(kwargs={"event_id": str(event_id), "retry": retry})
    except Exception as exc:  # the broker's errors vary by transport; any failure is "later"
        logger.warning("outbox.dispatch_failed event=%s error=%s", event_id, type(exc).__name__)
        return False
    return True


def dispatch_undelivered(*, event_ids: list[UUID]) -> tuple[int, int]:
    """Dispatch again now those of the given events that are still undelivered (an operator's
    action). Returns (dispatched, undelivered); fewer dispatched means the broker is down."""
    undelivered = list(
        OutboxEvent.objects.filter(pk__in=event_ids, delivered_at__isnull=True).values_list("pk", flat=True)
    )
    dispatched = sum(dispatch_event(event_id=event_id, retry=False) for event_id in undelivered)
    return dispatched, len(undelivered)


# --- Deliver: run each subscriber once ----------------------------------------------------------


def deliver_event(*, event_id: UUID) -> DeliveryOutcome:
    """Run every subscriber of the event that has not run yet, each in its own transaction.

    Each subscriber's effect commits together with its delivery record, and the record is
    unique per (event, subscriber), so redelivery, concurrent delivery and retries run an
    effect at most once. A failing subscriber is recorded (attempts, last error) and reported
    in the outcome; the others are unaffected. Raises NotFound for an unknown event.
    """
    # Raw SQL on this path: every event of every clinical step comes through here.
    with connection.cursor() as cursor:
        cursor.execute(sql.EVENT.sql, [event_id])
        found = cursor.fetchone()
    if found is None:
        raise NotFound(f"No event {event_id}.")
    outcome_delivered: list[str] = []
    outcome_already: list[str] = []
    outcome_failed: list[str] = []
    row = dict(zip(sql.EVENT_COLUMNS, found, strict=True))
    if row["delivered_at"] is None:
        payload = row["payload"]
        event = Event(
            id=row["id"],
            type=row["type"],
            tenant_id=row["tenant_id"],
            payload=payload if isinstance(payload, dict) else json.loads(payload),
            occurred_at=row["occurred_at"],
            recorded_at=row["recorded_at"],
            patient_id=row["patient_id"],
            encounter_id=row["encounter_id"],
            payload_version=row["payload_version"],
        )
        for subscriber in events.subscribers_for(event.type):
            try:
                result = _deliver_to(event, subscriber)
            except Exception as exc:
                # Raised after the delivery committed (a handler's on_commit callback): the
                # effect is recorded; do not let it starve the other subscribers.
                logger.warning(
                    "event.after_commit_failed event=%s subscriber=%s error=%s",
                    event.id,
                    subscriber.name,
                    type(exc).__name__,
                )
                result = "delivered"
            {"delivered": outcome_delivered, "already": outcome_already, "failed": outcome_failed}[result].append(
                subscriber.name
            )
        if not outcome_failed:
            # Bookkeeping, not a clinical write: without waiting for the disk (if it is lost in a
            # crash, the sweep re-dispatches the event and every subscriber answers "already").
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                cursor.execute(sql.MARK_DELIVERED.sql, [timezone.now(), event_id])
    return DeliveryOutcome(
        event_id=event_id,
        delivered=tuple(outcome_delivered),
        already_delivered=tuple(outcome_already),
        failed=tuple(outcome_failed),
    )


def _claim(event: Event, subscriber: events.Subscriber) -> tuple[int, int, datetime | None]:
    with connection.cursor() as cursor:
        cursor.execute(sql.CLAIM.sql, [event.id, subscriber.name])
        delivery_id, attempts, delivered_at = cursor.fetchone()
    return delivery_id, attempts, delivered_at


def _deliver_to(event: Event, subscriber: events.Subscriber) -> str:
    """Run one subscriber for one event, at most once: its effects commit with the delivery
    record. A failure rolls the effects back and is recorded in a transaction of its own."""
    try:
        with transaction.atomic(durable=True):
            delivery_id, attempts, delivered_at = _claim(event, subscriber)
            if delivered_at is not None:
                return "already"
            subscriber.handler(event)
            now = timezone.now()
            with connection.cursor() as cursor:
                cursor.execute(sql.RECORD_DELIVERED.sql, [attempts + 1, now, now, delivery_id])
    except Exception as exc:
        with transaction.atomic(durable=True):
            delivery_id, attempts, delivered_at = _claim(event, subscriber)
            if delivered_at is not None:  # another delivery succeeded meanwhile
                return "already"
            EventDelivery.objects.filter(pk=delivery_id).update(
                attempts=attempts + 1, last_attempt_at=timezone.now(), last_error=f"{type(exc).__name__}: {exc}"[:2000]
            )
        logger.warning(
            "event.subscriber_failed event=%s type=%s subscriber=%s attempt=%s error=%s",
            event.id,
            event.type,
            subscriber.name,
            attempts + 1,
            type(exc).__name__,
        )
        return "failed"
    return "delivered"


# --- Retries and the sweep ----------------------------------------------------------------------


def postpone_sweep(*, event_id: UUID, seconds: float) -> None:
    """The delivery task will retry by itself in ``seconds``: keep the sweep away until then
    (never bring the sweep forward: its own back-off may already be longer)."""
    from django.db.models.functions import Greatest

    grace = settings.CLINIC_OUTBOX_SWEEP_GRACE_SECONDS
    OutboxEvent.objects.filter(pk=event_id, delivered_at__isnull=True).update(
        sweep_after=Greatest("sweep_after", timezone.now() + timedelta(seconds=seconds + grace))
    )


def sweep_outbox(*, limit: int | None = None) -> int:
    """Re-dispatch undelivered events whose ``sweep_after`` has passed; return how many.

    Safe to run from several processes at once (rows are claimed with SKIP LOCKED). Each
    re-dispatch of an event waits twice as long as the previous one before the next (capped),
    so a subscriber that keeps failing is not hammered. At the first broker failure the
    remaining claimed events are released unchanged, for the next pass.
    """
    limit = limit or settings.CLINIC_OUTBOX_SWEEP_BATCH
    grace = settings.CLINIC_OUTBOX_SWEEP_GRACE_SECONDS
    cap = settings.CLINIC_OUTBOX_SWEEP_MAX_BACKOFF_SECONDS
    claimed: list[tuple[UUID, int, datetime]] = []
    with transaction.atomic(durable=True):
        due = (
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(delivered_at__isnull=True, sweep_after__lte=timezone.now())
            .order_by("sweep_after")
            .values_list("id", "dispatch_count", "sweep_after")[:limit]
        )
        for event_id, count, sweep_after in due:
            now = timezone.now()
            backoff = min(grace * 2 ** min(count, 16), cap)
            OutboxEvent.objects.filter(pk=event_id).update(
                dispatched_at=now, dispatch_count=count + 1, sweep_after=now + timedelta(seconds=backoff)
            )
            claimed.append((event_id, count, sweep_after))
    # Dispatch after commit: in eager mode (no broker) delivery runs inline and needs its own
    # transactions.
    dispatched = 0
    for index, (event_id, _count, _sweep_after) in enumerate(claimed):
        if not dispatch_event(event_id=event_id, retry=False):
            for undo_id, undo_count, undo_sweep_after in claimed[index:]:
                OutboxEvent.objects.filter(pk=undo_id, delivered_at__isnull=True).update(
                    dispatch_count=undo_count, sweep_after=undo_sweep_after
                )
            break
        dispatched += 1
    if dispatched:
        logger.info("outbox.swept dispatched=%s", dispatched)
    return dispatched
