"""The transactional outbox: publish in the caller's transaction, deliver after commit through
the real broker and a real worker, once per subscriber, whatever fails in between."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from clinic import outbox
from clinic.errors import InvalidInput, PublishOutsideTransaction
from clinic.facade import publish
from clinic.models import EventDelivery, OutboxEvent
from clinic.tasks import deliver_event, sweep_outbox
from tests.clinic.factories import OutboxEventFactory, TenantFactory
from tests.probe.contracts import ProbeFlaky, ProbeHappened, ProbeSlow
from tests.probe.models import ProbeEffect
from tests.support.waiting import wait_for
from tests.support.worker import running_worker

pytestmark = pytest.mark.django_db


def effects(event_id: uuid.UUID, subscriber: str = "probe.recorder") -> int:
    return ProbeEffect.objects.filter(event_id=event_id, subscriber=subscriber).count()


def delivered(event_id: uuid.UUID) -> bool:
    return OutboxEvent.objects.filter(pk=event_id, delivered_at__isnull=False).exists()


def test_rolled_back_transaction_publishes_nothing(celery_worker):
    tenant = TenantFactory()

    with pytest.raises(RuntimeError), transaction.atomic(durable=True):
        publish(payload=ProbeHappened(n=1), tenant_id=tenant.pk)
        raise RuntimeError("the clinical step failed")
    time.sleep(0.5)  # had anything been dispatched, the worker would have run it by now

    assert OutboxEvent.objects.count() == 0
    assert ProbeEffect.objects.count() == 0


def test_publish_outside_a_transaction_is_refused(transactional_db):
    tenant = TenantFactory()

    with pytest.raises(PublishOutsideTransaction):
        publish(payload=ProbeHappened(), tenant_id=tenant.pk)

    assert OutboxEvent.objects.count() == 0


def test_publish_takes_a_typed_payload_not_a_dict():
    tenant = TenantFactory()

    with pytest.raises(InvalidInput, match="typed payload"), transaction.atomic():
        publish(payload={"n": 1}, tenant_id=tenant.pk)  # type: ignore[arg-type]

    assert OutboxEvent.objects.count() == 0


def test_a_payload_that_does_not_match_its_contract_is_refused():
    tenant = TenantFactory()

    with pytest.raises(InvalidInput, match="n must be int, not str"), transaction.atomic():
        publish(payload=ProbeHappened(n="1"), tenant_id=tenant.pk)  # type: ignore[arg-type]

    assert OutboxEvent.objects.count() == 0


def test_published_event_carries_ids_timestamps_and_a_json_payload(django_capture_on_commit_callbacks):
    tenant = TenantFactory()
    patient_id, encounter_id = uuid.uuid4(), uuid.uuid4()

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        event = publish(
            payload=ProbeHappened(order=uuid.UUID(int=7)),
            tenant_id=tenant.pk,
            patient_id=patient_id,
            encounter_id=encounter_id,
        )

    row = OutboxEvent.objects.get(pk=event.id)
    assert (row.tenant_id, row.patient_id, row.encounter_id) == (tenant.pk, patient_id, encounter_id)
    assert row.payload == {"n": 0, "order": str(uuid.UUID(int=7))} == event.payload
    assert row.occurred_at is not None and row.recorded_at is not None
    assert row.delivered_at is None
    assert len(callbacks) == 1  # one dispatch, after commit


def test_worker_delivers_a_committed_event_to_each_subscriber_once(celery_worker):
    tenant = TenantFactory()

    with transaction.atomic():
        event = publish(payload=ProbeHappened(), tenant_id=tenant.pk)

    wait_for(lambda: delivered(event.id), what="delivery")
    assert effects(event.id) == 1
    delivery = EventDelivery.objects.get(event_id=event.id)
    assert (delivery.subscriber, delivery.attempts, delivery.last_error) == ("probe.recorder", 1, "")


def test_event_published_while_broker_is_down_is_delivered_by_the_sweep_once_it_is_back(broker_up, transactional_db):
    tenant = TenantFactory()
    broker_up.down()

    started = time.monotonic()
    with transaction.atomic():
        event = publish(payload=ProbeHappened(), tenant_id=tenant.pk)
    commit_seconds = time.monotonic() - started

    assert commit_seconds < 5, "a commit must not hang while the broker is down"
    time.sleep(1.1)  # past the sweep grace period (1 s in tests)
    assert outbox.sweep_outbox() == 0  # still down: nothing can be handed over
    assert not delivered(event.id)
    assert OutboxEvent.objects.get(pk=event.id).dispatch_count == 1

    broker_up.up()
    with running_worker():

        def sweep_then_check() -> bool:
            sweep_outbox.delay()  # what beat does every few seconds
            time.sleep(0.3)
            return delivered(event.id)

        wait_for(sweep_then_check, timeout=20, interval=0, what="delivery after the outage")

    assert effects(event.id) == 1
    assert OutboxEvent.objects.get(pk=event.id).dispatch_count == 2


def test_failing_subscriber_is_retried_until_it_succeeds_without_repeating_other_effects(celery_worker):
    tenant = TenantFactory()

    with transaction.atomic():
        event = publish(payload=ProbeFlaky(fail_times=2), tenant_id=tenant.pk)

    wait_for(lambda: delivered(event.id), what="delivery after retries")
    flaky = EventDelivery.objects.get(event_id=event.id, subscriber="probe.flaky")
    assert flaky.attempts == 3
    assert flaky.last_error == ""
    assert effects(event.id, "probe.flaky") == 1
    # The subscriber that succeeded the first time was not run again by the retries.
    assert EventDelivery.objects.get(event_id=event.id, subscriber="probe.recorder").attempts == 1
    assert effects(event.id, "probe.recorder") == 1


def test_failed_attempt_is_recorded_for_support_and_leaves_the_event_undelivered(transactional_db):
    row = OutboxEventFactory(type="probe.flaky", payload={"fail_times": 5})

    outcome = outbox.deliver_event(event_id=row.id)

    assert outcome.failed == ("probe.flaky",)
    assert outcome.delivered == ("probe.recorder",)
    flaky = EventDelivery.objects.get(event_id=row.id, subscriber="probe.flaky")
    assert flaky.attempts == 1 and flaky.delivered_at is None
    assert flaky.last_error == "ProbeFailure: planned failure 1"
    assert not delivered(row.id)
    assert effects(row.id, "probe.flaky") == 0


def test_two_deliveries_of_the_same_event_run_the_effect_once(transactional_db):
    row = OutboxEventFactory(type="probe.slow", payload={"sleep": 0.3})
    barrier = threading.Barrier(4)
    outcomes = []

    def deliver() -> None:
        from django.db import connection

        barrier.wait()
        try:
            outcomes.append(outbox.deliver_event(event_id=row.id))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert effects(row.id, "probe.slow") == 1
    assert effects(row.id, "probe.recorder") == 1
    assert sum(len(o.delivered) for o in outcomes) == 2  # each subscriber ran in exactly one thread
    assert all(not o.failed for o in outcomes)
    assert EventDelivery.objects.filter(event_id=row.id).count() == 2


def test_redelivery_through_the_broker_is_a_no_op(celery_worker):
    tenant = TenantFactory()
    with transaction.atomic():
        event = publish(payload=ProbeSlow(sleep=0.2), tenant_id=tenant.pk)

    # The broker hands the same event over again (a redelivery after a lost ack, a sweep...).
    for _ in range(3):
        deliver_event.apply_async(kwargs={"event_id": str(event.id)})
    wait_for(lambda: delivered(event.id), what="delivery")
    time.sleep(1.0)  # let the duplicate tasks finish

    assert effects(event.id, "probe.slow") == 1
    assert effects(event.id, "probe.recorder") == 1
    assert EventDelivery.objects.get(event_id=event.id, subscriber="probe.slow").attempts == 1


def test_sweep_skips_events_not_yet_due_and_backs_off_after_each_dispatch(broker_up, transactional_db):
    now = _now()
    due = OutboxEventFactory(sweep_after=now, dispatch_count=1)
    not_due = OutboxEventFactory(sweep_after=now + _seconds(60))

    assert outbox.sweep_outbox() == 1

    due.refresh_from_db()
    not_due.refresh_from_db()
    assert due.dispatch_count == 2
    assert due.sweep_after >= now + _seconds(2 * 1.0)  # grace 1s in tests, doubled per dispatch
    assert not_due.dispatch_count == 0
    assert outbox.sweep_outbox() == 0  # the dispatched event is not due again yet


def test_sweep_while_broker_is_down_keeps_events_due_for_the_next_pass(broker_up, transactional_db):
    now = _now()
    row = OutboxEventFactory(sweep_after=now, dispatch_count=1)
    broker_up.down()

    assert outbox.sweep_outbox() == 0

    row.refresh_from_db()
    assert (row.dispatch_count, row.sweep_after) == (1, now)


def test_concurrent_sweeps_dispatch_each_event_once(broker_up, transactional_db):
    tenant = TenantFactory()
    now = _now()
    with transaction.atomic():
        OutboxEvent.objects.bulk_create(
            [
                OutboxEvent(type="probe.happened", tenant=tenant, occurred_at=now, sweep_after=now, dispatch_count=1)
                for _ in range(40)
            ]
        )
    counts = []

    def sweep() -> None:
        from django.db import connection

        try:
            counts.append(outbox.sweep_outbox())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 40
    assert set(OutboxEvent.objects.values_list("dispatch_count", flat=True)) == {2}


def test_sweep_query_can_be_served_by_the_partial_index_of_undelivered_events(broker_up, transactional_db):
    from django.db import connection

    with CaptureQueriesContext(connection) as queries:
        outbox.sweep_outbox()

    select = next(q["sql"] for q in queries.captured_queries if "FOR UPDATE SKIP LOCKED" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + select)
        plan = "\n".join(r[0] for r in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "outbox_undelivered_idx" in plan


def _now():
    from django.utils import timezone

    return timezone.now()


def _seconds(n: float):
    from datetime import timedelta

    return timedelta(seconds=n)


def test_a_sweep_redispatch_makes_one_attempt_and_the_backoff_keeps_doubling(celery_worker):
    tenant = TenantFactory()
    with transaction.atomic():
        event = publish(payload=ProbeFlaky(fail_times=100), tenant_id=tenant.pk)

    def attempts() -> int:
        found = EventDelivery.objects.filter(event_id=event.id, subscriber="probe.flaky").values_list(
            "attempts", flat=True
        )
        return found.first() or 0

    # The first dispatch retries by itself: 1 attempt + one per configured delay (4 in tests).
    wait_for(lambda: attempts() == 5, timeout=20, what="the task's own retries")
    time.sleep(1.5)
    assert attempts() == 5
    # Each retry pushed the sweep past itself; after the last, the sweep may take over.
    after_chain = OutboxEvent.objects.get(pk=event.id)
    assert after_chain.sweep_after >= after_chain.recorded_at + _seconds(0.3 + 0.3 + 0.5 + 1.0)

    OutboxEvent.objects.filter(pk=event.id).update(sweep_after=_now())
    assert outbox.sweep_outbox() == 1
    wait_for(lambda: attempts() == 6, what="the swept attempt")
    time.sleep(1.5)

    swept = OutboxEvent.objects.get(pk=event.id)
    assert attempts() == 6  # no retry chain after a sweep: the sweep paces these
    assert swept.dispatch_count == 2
    assert swept.sweep_after >= swept.dispatched_at + _seconds(2 * 1.0)
    assert swept.delivered_at is None


def test_postponing_never_brings_the_sweep_forward(transactional_db):
    tenant = TenantFactory()
    later = _now() + _seconds(600)
    with transaction.atomic():
        row = OutboxEvent.objects.create(type="probe.happened", tenant=tenant, occurred_at=_now(), sweep_after=later)

    outbox.postpone_sweep(event_id=row.id, seconds=1)

    row.refresh_from_db()
    assert row.sweep_after == later


@pytest.fixture
def eager_tasks():
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_without_a_broker_tasks_run_eagerly_at_commit_and_failures_wait_for_the_sweep(eager_tasks, transactional_db):
    tenant = TenantFactory()

    with transaction.atomic():
        happened = publish(payload=ProbeHappened(), tenant_id=tenant.pk)
        flaky = publish(payload=ProbeFlaky(fail_times=1), tenant_id=tenant.pk)

    assert delivered(happened.id)
    assert effects(happened.id) == 1
    assert not delivered(flaky.id)  # no broker to retry through: not retried inline
    assert EventDelivery.objects.get(event_id=flaky.id, subscriber="probe.flaky").attempts == 1

    OutboxEvent.objects.filter(pk=flaky.id).update(sweep_after=_now())
    assert outbox.sweep_outbox() == 1

    assert delivered(flaky.id)
    assert effects(flaky.id, "probe.flaky") == 1


def test_dispatching_undelivered_events_from_admin_delivers_them_once(broker_up, transactional_db, client):
    from tests.clinic.factories import UserFactory

    tenant = TenantFactory()
    broker_up.down()
    with transaction.atomic():
        stuck = publish(payload=ProbeHappened(), tenant_id=tenant.pk)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    action = {"action": "dispatch_now", "_selected_action": [str(stuck.id)]}

    still_down = client.post("/admin/clinic/outboxevent/", action, follow=True)
    assert "Dispatched 0 of 1 undelivered events." in still_down.content.decode()
    broker_up.up()
    with running_worker():
        back = client.post("/admin/clinic/outboxevent/", action, follow=True)
        assert "Dispatched 1 of 1 undelivered events." in back.content.decode()
        wait_for(lambda: delivered(stuck.id), what="delivery of the re-dispatched event")

    assert effects(stuck.id) == 1
