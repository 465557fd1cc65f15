"""Benchmark of the visit, each figure next to a floor measured in the same run.

1. Booking rush: 32 concurrent clients (threads, each its own connection) book one
   practitioner's day of 1-minute slots (1,440) through ``encounters.services.book`` until it is
   full, each picking a random free slot and trying another on 409. Zero double bookings is
   checked. Floor: the same 32 threads claiming rows of a plain table with raw
   ``SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1`` + ``UPDATE``.
   Then the p99 latency at 100 bookings/s offered (open loop) on a second day.
2. Event latency: an order placed (order, charge and event committed) → its timeline entry
   written by a real Celery worker (prefork, 2 processes), and → an SSE client connected
   through the served stack (the front and the stream server, as ``make run``; ADR 7), at 50
   orders/s.

Targets (issue 5): booking ≥ 0.2x the floor, p99 < 100 ms; event p99 < 100 ms.
Usage: make bench-visit
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, pct, psycopg_url, setup_django

CLIENTS = 32


def make_day(tenant_id: int, site_id: int, practitioner_id: int, day: datetime.date) -> list[int]:
    from encounters.models import Slot

    start = datetime.datetime.combine(day, datetime.time(0, 0), tzinfo=datetime.UTC)
    Slot.objects.bulk_create(
        [
            Slot(
                tenant_id=tenant_id,
                practitioner_id=practitioner_id,
                site_id=site_id,
                start_at=start + datetime.timedelta(minutes=i),
                end_at=start + datetime.timedelta(minutes=i + 1),
            )
            for i in range(1440)
        ],
        ignore_conflicts=True,
    )
    return list(
        Slot.objects.filter(
            practitioner_id=practitioner_id, start_at__gte=start, start_at__lt=start + datetime.timedelta(days=1)
        ).values_list("pk", flat=True)
    )


def booking_rush(
    tenant_id: int, slots: list[int], patients: list, offered_rate: float | None = None, seconds: float = 10.0
):  # type: ignore[no-untyped-def]
    from django.db import connection

    from encounters import services
    from encounters.errors import SlotTaken

    free = set(slots)
    lock = threading.Lock()
    latencies: list[float] = []
    conflicts = 0

    def attempt(patient_id) -> bool:  # type: ignore[no-untyped-def]
        nonlocal conflicts
        with lock:
            if not free:
                return False
            slot = random.choice(tuple(free))
        t0 = time.perf_counter()
        try:
            services.book(tenant_id=tenant_id, slot_id=slot, patient_id=patient_id, actor="bench")
            with lock:
                free.discard(slot)
        except SlotTaken:
            with lock:
                conflicts += 1
                free.discard(slot)
        finally:
            latencies.append((time.perf_counter() - t0) * 1000)
        return True

    def closed_loop(index: int) -> None:
        try:
            while attempt(patients[index % len(patients)]):
                pass
        finally:
            connection.close()

    started = time.perf_counter()
    if offered_rate is None:
        threads = [threading.Thread(target=closed_loop, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        with ThreadPoolExecutor(CLIENTS) as pool:
            interval, next_at = 1.0 / offered_rate, time.perf_counter()
            end = next_at + seconds
            i = 0
            while time.perf_counter() < end:
                now = time.perf_counter()
                if now < next_at:
                    time.sleep(next_at - now)
                next_at += interval
                pool.submit(attempt, patients[i % len(patients)])
                i += 1
    elapsed = time.perf_counter() - started
    return elapsed, latencies, conflicts


def floor_rush(url: str, slots: int) -> float:
    import psycopg

    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_slot_floor")
        conn.execute("CREATE TABLE bench_slot_floor (id serial primary key, booked boolean not null default false)")
        conn.execute("INSERT INTO bench_slot_floor (booked) SELECT false FROM generate_series(1, %s)", [slots])

    def claim() -> None:
        with psycopg.connect(psycopg_url(url)) as conn:
            while True:
                with conn.transaction():
                    row = conn.execute(
                        "SELECT id FROM bench_slot_floor WHERE NOT booked "
                        "ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED"
                    ).fetchone()
                    if row is None:
                        return
                    conn.execute("UPDATE bench_slot_floor SET booked = true WHERE id = %s", [row[0]])

    started = time.perf_counter()
    threads = [threading.Thread(target=claim) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return slots / (time.perf_counter() - started)


def event_latency(url: str, tenant_id: int, encounter_id, token: str, rate: float, count: int) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from bench.servers import Ports, serving
    from encounters.models import TimelineEntry
    from orders import services as orders

    env = {**os.environ, "DATABASE_URL": url, "CLINIC_LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q",
         f"{os.environ['CLINIC_QUEUE_PREFIX']}events,{os.environ['CLINIC_QUEUE_PREFIX']}default",
         "--concurrency", "2", "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    web = serving("served", url, Ports())
    port = web.__enter__().port
    received: dict[str, float] = {}
    stop = threading.Event()

    def listen() -> None:
        url_ = f"http://127.0.0.1:{port}/api/encounters/{encounter_id}/stream"
        try:
            with (
                httpx.Client(timeout=None) as client,
                client.stream("GET", url_, headers={"Authorization": f"Bearer {token}"}) as r,
            ):
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        entry = json.loads(line[6:])
                        received[entry["event_id"]] = time.time()
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            return  # the servers stopped at the end of the run

    try:
        from clinic.models import OutboxEvent

        # The booking rush left thousands of events to deliver: let the worker catch up first,
        # so this measures latency, not a backlog.
        drain_deadline = time.monotonic() + 300
        while OutboxEvent.objects.filter(tenant_id=tenant_id, delivered_at__isnull=True).exists():
            if time.monotonic() > drain_deadline:
                print("  (the worker did not drain the booking events within 300 s)")
                break
            time.sleep(0.5)
        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(2.0)  # the stream is up
        committed: dict[str, float] = {}
        interval, next_at = 1.0 / rate, time.perf_counter()
        for _ in range(count):
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            placed, _ = orders.place_orders(
                tenant_id=tenant_id, encounter_id=encounter_id, codes=["CRP"], actor="bench"
            )
            committed[str(placed[0].pk)] = time.time()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(received) < count * 2:
            time.sleep(0.2)
        stop.set()
        entries = TimelineEntry.objects.filter(encounter_id=encounter_id, type="order.placed")
        to_entry, to_sse = [], []
        for entry in entries:
            order_id = entry.data.get("order_id")
            if order_id in committed:
                to_entry.append((entry.created_at.timestamp() - committed[order_id]) * 1000)
                if str(entry.event_id) in received:
                    to_sse.append((received[str(entry.event_id)] - committed[order_id]) * 1000)
        print(
            f"event latency, {count} orders at {rate:g}/s, real worker (2 processes), the front and the stream server:"
        )
        for label, values in (("commit → timeline entry", to_entry), ("commit → SSE client", to_sse)):
            if values:
                p50, p99 = statistics.median(values), pct(values, 99)
                print(f"  {label:26} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (n={len(values)})")
            else:
                print(f"  {label:26} no data")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        web.__exit__(None, None, None)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--events-only", action="store_true", help="skip the booking rush")
    args = parser.parse_args()
    url = setup_django()

    from django.db import transaction
    from django.utils import timezone

    from billing.demo import seed as seed_demo_fees
    from clinic import services as kernel
    from clinic.models import Site, Tenant
    from encounters import services as encounters
    from encounters.models import Appointment
    from identity.contracts import Demographics, HumanName, IdentifierInput
    from identity.facade import register_patient
    from terminology.demo import seed_in_transaction as seed_demo_catalogue

    slug = f"bench-visit-{int(time.time())}"
    with transaction.atomic():
        tenant = kernel.create_tenant(slug=slug, name="Bench visit")
        site = Site.objects.create(tenant=tenant, code="main", name="Main")
    practitioners = [
        encounters.create_practitioner(tenant_id=tenant.pk, name=f"Dr {i}", site_ids=[site.pk]) for i in range(3)
    ]
    patients = []
    for i in range(CLIENTS):
        with transaction.atomic():
            patients.append(
                register_patient(
                    tenant_id=tenant.pk,
                    identifiers=[IdentifierInput(system=f"urn:clinic:{slug}:mrn", value=f"B{i}")],
                    demographics=Demographics(name=HumanName(family=f"Bench{i}", given=("Pat",))),
                    confirm_new=True,
                    actor="bench",
                ).patient.id
            )
    day = timezone.localdate() + datetime.timedelta(days=30)

    if args.events_only:
        seed_demo_catalogue(tenant_id=tenant.pk)
        seed_demo_fees(tenant_id=tenant.pk)
        encounter = encounters.open_walk_in(tenant_id=tenant.pk, patient_id=patients[0], site_id=site.pk, actor="bench")
        _client, token = kernel.create_api_client(tenant_id=tenant.pk, name="bench")
        event_latency(url, tenant.pk, encounter.pk, token, args.rate, args.orders)
        return 0
    slots = make_day(tenant.pk, site.pk, practitioners[0].pk, day)
    elapsed, latencies, conflicts = booking_rush(tenant.pk, slots, patients)
    doubles = (
        Appointment.objects.filter(slot_id__in=slots).exclude(status="cancelled").values("slot_id").count()
        - Appointment.objects.filter(slot_id__in=slots).exclude(status="cancelled").values("slot_id").distinct().count()
    )
    rate = len(slots) / elapsed
    floor = floor_rush(url, len(slots))
    print(f"booking rush: {CLIENTS} clients, one practitioner's day of {len(slots)} slots")
    print(f"  {rate:,.0f} bookings/s  ({conflicts} lost races answered 409)  double bookings: {doubles}")
    print(f"  floor (raw SELECT ... FOR UPDATE SKIP LOCKED + UPDATE): {floor:,.0f}/s  → {rate / floor:.2f}x the floor")
    print(f"  closed-loop latency p50 {statistics.median(latencies):.1f} ms  p99 {pct(latencies, 99):.1f} ms")

    slots2 = make_day(tenant.pk, site.pk, practitioners[1].pk, day)
    _elapsed, latencies2, conflicts2 = booking_rush(tenant.pk, slots2, patients, offered_rate=100.0, seconds=10.0)
    print(
        f"  at 100 bookings/s offered ({len(latencies2)} attempts, {conflicts2} 409s): "
        f"p50 {statistics.median(latencies2):.1f} ms  p99 {pct(latencies2, 99):.1f} ms"
    )

    seed_demo_catalogue(tenant_id=tenant.pk)
    seed_demo_fees(tenant_id=tenant.pk)
    encounter = encounters.open_walk_in(tenant_id=tenant.pk, patient_id=patients[0], site_id=site.pk, actor="bench")
    _client, token = kernel.create_api_client(tenant_id=tenant.pk, name="bench")
    event_latency(url, tenant.pk, encounter.pk, token, args.rate, args.orders)
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
