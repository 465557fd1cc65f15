"""Benchmark of the event outbox, each figure next to a floor measured in the same run.

1. Publish cost: transactions that each write one event through ``clinic.facade.publish``
   (Django, ``on_commit`` dispatch to the real broker) against the floor of a raw psycopg
   ``INSERT`` of the same row in its own transaction.
2. Delivery latency: commit to ``delivered_at`` through a real Celery worker process (prefork, 2
   processes), at a fixed offered rate, p50/p99; floor: a raw Redis LPUSH → BRPOP round trip.

Runs against its own database (``<DATABASE_URL db>_bench``) and queue namespace; needs Redis.
Usage: make bench-outbox   (or: python bench/outbox.py --events 2000 --rate 50)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, pct, psycopg_url, setup_django
from clinic.contracts import EventPayload, described


# The benchmark's own event types (registered in main, as a producer registers its own).
@dataclass(frozen=True, slots=True)
class BenchPublished(EventPayload):
    event_type: ClassVar[str] = "bench.published"
    i: int = described("the event's number in the run")


@dataclass(frozen=True, slots=True)
class BenchWarmup(EventPayload):
    event_type: ClassVar[str] = "bench.warmup"


@dataclass(frozen=True, slots=True)
class BenchLatency(EventPayload):
    event_type: ClassVar[str] = "bench.latency"
    i: int = described("the event's number in the run")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000, help="events for the publish benchmark")
    parser.add_argument("--latency-events", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="offered events/s for the latency benchmark")
    args = parser.parse_args()
    bench_url = setup_django()

    import psycopg
    import redis
    from django.conf import settings
    from django.db import transaction

    from clinic.facade import publish, register_event_types
    from clinic.models import OutboxEvent, Tenant

    register_event_types(BenchPublished, BenchWarmup, BenchLatency)

    tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    OutboxEvent.objects.filter(tenant=tenant).delete()
    r = redis.Redis.from_url(settings.REDIS_URL)

    # --- 1. publish cost ---------------------------------------------------------------------
    n = args.events
    raw = psycopg.connect(psycopg_url(bench_url))
    raw.autocommit = True
    start = time.perf_counter()
    for _ in range(n):
        with raw.transaction():
            raw.execute(
                "INSERT INTO clinic_outboxevent (id, type, tenant_id, payload, occurred_at, recorded_at, "
                "dispatched_at, dispatch_count, sweep_after) VALUES (%s, 'bench.floor', %s, '{}', now(), now(), "
                "now(), 1, now() + interval '1 hour')",
                [uuid.uuid4(), tenant.pk],
            )
    floor_seconds = time.perf_counter() - start
    raw.execute("DELETE FROM clinic_outboxevent WHERE type = 'bench.floor'")

    start = time.perf_counter()
    for i in range(n):
        with transaction.atomic():
            publish(BenchPublished(i=i), tenant_id=tenant.pk)
    publish_seconds = time.perf_counter() - start
    # No worker ran: drop what was queued and published.
    r.delete(settings.CLINIC_EVENTS_QUEUE)
    OutboxEvent.objects.filter(tenant=tenant).delete()

    floor_rate, publish_rate = n / floor_seconds, n / publish_seconds
    print(f"publish: {publish_rate:,.0f} events/s (one transaction each, incl. broker dispatch)")
    print(f"  floor: {floor_rate:,.0f} rows/s raw psycopg INSERT, one transaction each")
    print(f"  ratio: {publish_rate / floor_rate:.2f}x the floor")

    # --- 2. delivery latency -----------------------------------------------------------------
    env = dict(os.environ)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            settings.CLINIC_EVENTS_QUEUE,
            "--concurrency",
            "2",
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Warm up until the worker consumes.
        with transaction.atomic():
            warm = publish(BenchWarmup(), tenant_id=tenant.pk)
        deadline = time.monotonic() + 30
        while not OutboxEvent.objects.filter(pk=warm.id, delivered_at__isnull=False).exists():
            if time.monotonic() > deadline:
                raise SystemExit("worker did not start")
            time.sleep(0.1)

        ids: list[tuple[uuid.UUID, float]] = []
        interval = 1.0 / args.rate
        next_at = time.perf_counter()
        for i in range(args.latency_events):
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            with transaction.atomic():
                event = publish(BenchLatency(i=i), tenant_id=tenant.pk)
            ids.append((event.id, time.time()))
        deadline = time.monotonic() + 60
        while OutboxEvent.objects.filter(type="bench.latency", delivered_at__isnull=True).exists():
            if time.monotonic() > deadline:
                raise SystemExit("events not delivered within 60 s")
            time.sleep(0.1)
        delivered = dict(OutboxEvent.objects.filter(type="bench.latency").values_list("id", "delivered_at"))
        latencies = [(delivered[event_id].timestamp() - committed) * 1000 for event_id, committed in ids]
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    floor = []
    key = f"{settings.CLINIC_QUEUE_PREFIX}floor"
    for _ in range(500):
        t0 = time.perf_counter()
        r.lpush(key, b"x")
        r.brpop([key], timeout=1)
        floor.append((time.perf_counter() - t0) * 1000)
    print(f"delivery latency, commit → delivered_at, {args.latency_events} events at {args.rate:g}/s, real worker:")
    print(
        f"  p50 {statistics.median(latencies):.1f} ms   p99 {pct(latencies, 99):.1f} ms   max {max(latencies):.1f} ms"
    )
    print(
        f"  floor (raw Redis LPUSH→BRPOP round trip): p50 {statistics.median(floor):.2f} ms"
        f"   p99 {pct(floor, 99):.2f} ms"
    )
    OutboxEvent.objects.filter(tenant=tenant).delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
