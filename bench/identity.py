"""Benchmark of the identity spine, each figure next to a floor measured in the same run.

1. Registration, 8 concurrent clients (processes), each call ``identity.facade.register_patient``
   in its own durable transaction (validation, identifier lookup, duplicate check, insert, event,
   broker dispatch): new patients, then the same registrations again (idempotent hits). Floor:
   8 processes running a raw ``INSERT ... ON CONFLICT DO NOTHING`` of one identifier row each.
2. Match latency (``identity.facade.match_patients``) p50/p99 on 1k and on 100k generated
   patients (same generator), for queries about people who exist (with typos) and who do not.

Targets (issue 3): registration >= 0.2x the floor with p99 < 50 ms; match p50 < 10 ms at 100k and
no more than 2x its p50 at 1k.

Usage: make bench-identity   (python bench/identity.py --per-client 250 --large 100000)
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct, psycopg_url, setup_django

CLIENTS = 8
FAMILIES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson", "Wright",
    "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Thomas", "Clarke", "Jackson", "Wood",
    "Harris", "Edwards", "Turner", "Martin", "Cooper", "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison",
    "Lewis", "Baker", "Lee", "Allen", "Morris", "Khan", "Scott", "Watson", "Davis", "Parker", "James", "Bennett",
    "Young", "Phillips", "Richardson", "Mitchell", "Bailey", "Carter", "Cook", "Singh", "Shaw", "Bell", "Collins",
    "Morgan", "Kelly", "Begum", "Miller", "Cox", "Hussain", "Marshall", "Simpson", "Price", "Anderson", "Adams",
    "Wilkinson", "Ali", "Ahmed", "Foster", "Ellis", "Murphy", "Chapman", "Mason", "Gray", "Richards", "Webb",
    "Griffiths", "Hunt", "Palmer", "Campbell", "Holmes", "Mills", "Rogers", "Barnes", "Knight", "Matthews",
]  # fmt: skip
GIVENS = [
    "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia", "Jack", "Ivy", "Leo", "Lily", "Arthur",
    "Isabella", "Muhammad", "Rosie", "Oscar", "Sophia", "Charlie", "Grace", "Jacob", "Freya", "Thomas", "Olivia",
    "Henry", "Florence", "William", "Willow", "Alfie", "Emily", "Joshua", "Ella", "Freddie", "Poppy", "Archie", "Ada",
]  # fmt: skip


def person(rng: random.Random) -> dict[str, object]:
    # Surnames are skewed like real ones (a few very common), birth dates spread over 90 years.
    family = FAMILIES[min(int(rng.paretovariate(1.2)) - 1, len(FAMILIES) - 1)] + rng.choice(
        ["", "", "", "-" + rng.choice(FAMILIES)]
    )
    return {
        "family": family,
        "given": rng.choice(GIVENS),
        "birth_date": datetime.date(1935, 1, 1) + datetime.timedelta(days=rng.randrange(90 * 365)),
        "gender": rng.choice(["male", "female"]),
        "phone": f"07{rng.randrange(10**9):09d}",
    }


# --- 1. registration ------------------------------------------------------------------------


def register_client(args: tuple[int, int, int, str, mp.Barrier]) -> list[float]:
    client, per_client, tenant_id, run, barrier = args
    setup_django()
    from django.db import transaction

    from identity.contracts import ContactPoint, Demographics, Gender, HumanName, IdentifierInput
    from identity.facade import register_patient

    rng = random.Random(client)
    calls = []
    for i in range(per_client):
        p = person(rng)
        calls.append(
            (
                [IdentifierInput(system="urn:clinic:bench-reg:mrn", value=f"R{run}-{client}-{i}")],
                Demographics(
                    name=HumanName(family=str(p["family"]), given=(str(p["given"]),)),
                    birth_date=p["birth_date"],  # type: ignore[arg-type]
                    gender=Gender(p["gender"]),
                    telecom=(ContactPoint(system="phone", value=str(p["phone"])),),
                ),
            )
        )
    results = []
    for label in ("new", "repeat"):
        barrier.wait()
        latencies = []
        for identifiers, demographics in calls:
            t0 = time.perf_counter()
            with transaction.atomic(durable=True):
                register_patient(
                    tenant_id=tenant_id,
                    identifiers=identifiers,
                    demographics=demographics,
                    confirm_new=True,
                    actor="bench",
                )
            latencies.append((time.perf_counter() - t0) * 1000)
        results.append((label, latencies))
    return results  # type: ignore[return-value]


def floor_client(args: tuple[int, int, str, str, mp.Barrier]) -> list[float]:
    import psycopg

    client, per_client, url, run, barrier = args
    latencies = []
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        barrier.wait()
        for i in range(per_client):
            t0 = time.perf_counter()
            conn.execute(
                "INSERT INTO bench_identifier_floor (tenant_id, system_id, value) VALUES (1, 1, %s) "
                "ON CONFLICT DO NOTHING",
                [f"F{run}-{client}-{i}"],
            )
            latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def run_parallel(target, argsets) -> tuple[float, list]:  # type: ignore[no-untyped-def]
    ctx = mp.get_context("spawn")
    with ctx.Pool(len(argsets)) as pool:
        started = time.perf_counter()
        results = pool.map(target, argsets)
        return time.perf_counter() - started, results


def bench_registration(url: str, per_client: int) -> None:
    import psycopg

    from clinic.models import Tenant
    from identity.services import ensure_identifier_systems

    tenant, _ = Tenant.objects.get_or_create(slug="bench-reg", defaults={"name": "Bench registration"})
    ensure_identifier_systems(tenant_id=tenant.pk)
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_identifier_floor (tenant_id int, system_id int, value text, "
            "UNIQUE (tenant_id, system_id, value))"
        )
    run = f"{int(time.time())}"
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()

    barrier = manager.Barrier(CLIENTS)
    _seconds, floor_lat = run_parallel(floor_client, [(c, per_client * 4, url, run, barrier) for c in range(CLIENTS)])
    floor_all = [x for lat in floor_lat for x in lat]
    # Throughput of clients that are always busy: operations / (summed latency / clients).
    floor_rate = len(floor_all) / (sum(floor_all) / 1000 / CLIENTS)

    barrier = manager.Barrier(CLIENTS)
    ctx_pool = ctx.Pool(CLIENTS)
    started = time.perf_counter()
    results = ctx_pool.map(register_client, [(c, per_client, tenant.pk, run, barrier) for c in range(CLIENTS)])
    ctx_pool.close()
    by_label: dict[str, list[float]] = {"new": [], "repeat": []}
    for client_results in results:
        for label, latencies in client_results:
            by_label[label] += latencies
    total_seconds = time.perf_counter() - started
    # Both phases ran back to back in each client; split wall time by the clients' own busy time.
    busy = {label: sum(lat) / 1000 / CLIENTS for label, lat in by_label.items()}
    print(f"registration, {CLIENTS} concurrent clients, {per_client} patients each (wall {total_seconds:.1f} s):")
    for label in ("new", "repeat"):
        lat = by_label[label]
        rate = len(lat) / busy[label]
        print(
            f"  {label:6} {rate:7,.0f}/s  p50 {statistics.median(lat):5.1f} ms  p99 {pct(lat, 99):5.1f} ms"
            f"  → {rate / floor_rate:.2f}x the floor"
        )
    print(
        f"  floor  {floor_rate:7,.0f}/s  p50 {statistics.median(floor_all):5.2f} ms  p99 {pct(floor_all, 99):5.2f} ms"
        "  (raw INSERT ... ON CONFLICT DO NOTHING of one identifier row, autocommit)"
    )


# --- 2. match latency -----------------------------------------------------------------------


def populate(tenant_slug: str, count: int, seed: int) -> int:
    from clinic.models import Tenant
    from identity.models import Patient
    from identity.normalise import name_key, phone_key

    tenant, _ = Tenant.objects.get_or_create(slug=tenant_slug, defaults={"name": tenant_slug})
    have = Patient.objects.filter(tenant=tenant).count()
    rng = random.Random(seed)
    people = [person(rng) for _ in range(count)]
    if have < count:
        batch = []
        for p in people[have:]:
            batch.append(
                Patient(
                    tenant=tenant,
                    family=p["family"],
                    given=[p["given"]],
                    birth_date=p["birth_date"],
                    gender=p["gender"],
                    telecom=[{"system": "phone", "value": p["phone"]}],
                    family_key=name_key(str(p["family"])),
                    given_key=name_key(str(p["given"])),
                    phone_keys=[phone_key(str(p["phone"]))],
                )
            )
            if len(batch) == 5000:
                Patient.objects.bulk_create(batch)
                batch = []
        Patient.objects.bulk_create(batch)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE identity_patient")
    return tenant.pk


def bench_match(size: int, queries: int) -> list[float]:
    from identity.contracts import ContactPoint, Demographics, Gender, HumanName
    from identity.facade import match_patients

    tenant_id = populate(f"bench-match-{size}", size, seed=size)
    rng = random.Random(size)
    existing = [person(random.Random(size)) for _ in range(min(size, 2000))]
    latencies = []
    for i in range(queries):
        p = dict(rng.choice(existing)) if i % 2 == 0 else person(rng)
        if i % 4 == 0:  # a typo in the family name
            family = str(p["family"])
            p["family"] = family[:-1] + ("e" if family[-1] != "e" else "a")
        demographics = Demographics(
            name=HumanName(family=str(p["family"]), given=(str(p["given"]),)),
            birth_date=p["birth_date"],  # type: ignore[arg-type]
            gender=Gender(p["gender"]),
            telecom=(ContactPoint(system="phone", value=str(p["phone"])),),
        )
        t0 = time.perf_counter()
        match_patients(tenant_id=tenant_id, demographics=demographics)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies[20:]  # the first queries warm caches


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-client", type=int, default=250)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    url = setup_django()

    bench_registration(url, args.per_client)

    small = bench_match(args.small, args.queries)
    large = bench_match(args.large, args.queries)
    print(f"match latency, {args.queries} queries each (half existing people, a quarter with a typo):")
    for label, lat in ((f"{args.small:,}", small), (f"{args.large:,}", large)):
        print(f"  {label:>8} patients: p50 {statistics.median(lat):5.2f} ms  p99 {pct(lat, 99):5.2f} ms")
    print(
        f"  p50 at {args.large:,} / p50 at {args.small:,}: {statistics.median(large) / statistics.median(small):.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
