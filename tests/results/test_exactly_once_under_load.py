"""Exactly once under the conditions labs create: a storm of duplicate deliveries over many MLLP
connections at once, and a Celery worker killed while it delivers result events."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from clinic import outbox as kernel
from clinic.models import EventDelivery, OutboxEvent
from encounters import services as encounters
from encounters.contracts import EncounterStatus
from encounters.models import TimelineEntry
from interop.models import InboundMessage
from interop.v2.intake import receive
from interop.v2.listener import Listener
from orders import services as orders
from results.models import DiagnosticReport, Observation
from tests.support.hl7 import MLLPClient, ack_fields, lab_visit, register_duck
from tests.support.waiting import child_database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def oru(*, control_id: str, mrn: str, placer: str, filler: str, results: int = 3, value: str = "5.1") -> bytes:
    lines = [
        f"MSH|^~\\&|LAB|SomeSystem|CLINIC||20261201101500+0000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"PID|1||{mrn}^^^1^MR||Duck^Donald||19241010|M",
        f"ORC|RE|{placer}|{filler}",
        f"OBR|1|{placer}|{filler}|24317-0^Hemogram and platelet count, automated^LN|||20261201090000+0000"
        "|||||||||||||||20261201101000+0000|||F",
    ]
    for n in range(1, results + 1):
        lines.append(
            f"OBX|{n}|NM|{1000 + n}-{n % 10}^Analyte {n}^LN||{value}|10*9/L^^UCUM|4.0-11.0|N|||F|||20261201090000+0000"
        )
    return ("\r".join(lines) + "\r").encode()


def patients_with_orders(tenant_id: int, site_id: int, *, patients: int, orders_each: int) -> list[tuple[str, str]]:
    """(MRN, placer number) pairs: ``patients`` people in visits in progress, each with orders."""
    pairs = []
    for p in range(patients):
        mrn = f"7{p:07d}"
        patient = register_duck(tenant_id, value=mrn)
        encounter = encounters.open_walk_in(tenant_id=tenant_id, patient_id=patient.id, site_id=site_id, actor="t")
        encounters.move_encounter(
            tenant_id=tenant_id, encounter_id=encounter.pk, to=EncounterStatus.IN_PROGRESS, actor="t"
        )
        placed, _ = orders.place_orders(
            tenant_id=tenant_id,
            encounter_id=encounter.pk,
            codes=["FBC", "TSH", "CRP", "GLU", "LFT"][:orders_each],
            actor="t",
        )
        pairs += [(mrn, o.placer_number) for o in placed]
    return pairs


def test_a_duplicate_storm_over_twenty_connections_charts_exactly_one_set(broker_proxy):
    visit = lab_visit(register=False)
    pairs = patients_with_orders(visit.tenant_id, visit.clinic.site.pk, patients=10, orders_each=5)
    assert len(pairs) == 50
    # 50 messages x 20 deliveries: byte-identical copies and resends under new control IDs, as
    # retrying interfaces do. Every delivery must get AA with its own MSA-2.
    deliveries = []
    for i, (mrn, placer) in enumerate(pairs):
        for copy in range(20):
            control_id = f"M{i:02d}-{copy % 5}"  # 5 distinct control IDs per message, 4 copies each
            deliveries.append((control_id, oru(control_id=control_id, mrn=mrn, placer=placer, filler=f"F{i:04d}")))
    random.Random(6).shuffle(deliveries)
    listener = Listener(port=0, workers=8).start_in_thread()
    acks: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def connection_worker(share):
        try:
            client = MLLPClient(listener.port, timeout=60)
            start.wait()
            for control_id, message in share:
                ack = client.send(message)
                with lock:
                    acks.append((control_id, ack))
            client.close()
        except BaseException as exc:  # reported below; a thread must not swallow a failure
            errors.append(exc)

    threads = [threading.Thread(target=connection_worker, args=(deliveries[n::20],)) for n in range(20)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        listener.stop()
        connection.close()

    assert not errors, errors
    assert len(acks) == 1000
    for control_id, ack in acks:
        fields = ack_fields(ack)["MSA"]
        assert fields[1] == "AA", ack
        assert fields[2] == control_id
    assert DiagnosticReport.objects.filter(tenant_id=visit.tenant_id).count() == 50
    assert Observation.objects.filter(tenant_id=visit.tenant_id).count() == 150
    assert set(Observation.objects.filter(tenant_id=visit.tenant_id).values_list("version", flat=True)) == {1}
    assert OutboxEvent.objects.filter(tenant_id=visit.tenant_id, type="result.available").count() == 50
    statuses = Counter(InboundMessage.objects.filter(tenant_id=visit.tenant_id).values_list("status", flat=True))
    assert statuses == {"processed": 50, "duplicate": 950}
    # Every delivery's ACK time was recorded once the listener wrote it.
    assert not InboundMessage.objects.filter(tenant_id=visit.tenant_id, acknowledged_at__isnull=True).exists()


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            f"{settings.CLINIC_EVENTS_QUEUE},{settings.CLINIC_DEFAULT_QUEUE}",
            "--pool",
            "solo",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_while_delivering_result_events_loses_none(broker_proxy):
    visit = lab_visit(register=False)
    pairs = patients_with_orders(visit.tenant_id, visit.clinic.site.pk, patients=20, orders_each=5)
    # Results arrive while the broker is unreachable: charted, acknowledged, events in the outbox.
    broker_proxy.down()
    try:
        for i, (mrn, placer) in enumerate(pairs):
            receipt = receive(raw=oru(control_id=f"K{i}", mrn=mrn, placer=placer, filler=f"K{i:04d}"), transport="mllp")
            assert receipt.code == "AA", receipt.ack
    finally:
        broker_proxy.up()
    events = list(
        OutboxEvent.objects.filter(tenant_id=visit.tenant_id, type="result.available").values_list("id", flat=True)
    )
    assert len(events) == 100

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": child_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.REDIS_URL,
        "CLINIC_QUEUE_PREFIX": settings.CLINIC_QUEUE_PREFIX,
        "CLINIC_OUTBOX_SWEEP_GRACE_SECONDS": "1",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    worker = _start_worker(env)
    try:
        kernel.sweep_outbox()  # hand the waiting events to the broker, as beat would
        delivered = lambda: OutboxEvent.objects.filter(pk__in=events, delivered_at__isnull=False).count()  # noqa: E731
        wait_for(lambda: delivered() >= 5, timeout=60, what="the first worker to deliver some events")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        at_kill = delivered()
        assert at_kill < len(events), "the worker finished before it was killed: the test proved nothing"
        worker = _start_worker(env)

        def all_delivered():
            kernel.sweep_outbox()  # beat runs this every 5 s in production
            return delivered() == len(events)

        wait_for(all_delivered, timeout=90, interval=0.5, what="every result event delivered after the kill")
    finally:
        worker.kill()
        worker.wait(timeout=10)
        connection.close()

    timeline = Counter(TimelineEntry.objects.filter(event_id__in=events).values_list("event_id", flat=True))
    assert set(timeline) == set(events) and set(timeline.values()) == {1}  # each charted once on its timeline
    runs = Counter(
        EventDelivery.objects.filter(
            event_id__in=events, subscriber="encounters.timeline", delivered_at__isnull=False
        ).values_list("event_id", flat=True)
    )
    assert set(runs.values()) == {1}
