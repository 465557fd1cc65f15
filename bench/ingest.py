"""Benchmark of HL7 v2 result intake over MLLP, each figure next to a floor measured in the same run.

1. Parsers: one 20-OBX ORU^R01 parsed by hl7apy, by the ``hl7`` package, by our ER7 reader
   (``interop.v2.er7``) with the mapping to ``ResultMessage`` (``interop.v2.oru``), and by a bare split.
2. Throughput: closed-loop MLLP clients (8 connections) send 20-OBX results, each new (its own
   accession), to ``manage.py mllp_listener`` in its own process. Floor: the same clients
   against a bare MLLP server (same framing, same thread pool) that splits the message and does
   one multi-row INSERT of its 20 results per message, in the same run.
3. Receipt → ACK at 50 messages/s offered (open loop, 10 connections): client-side round trip,
   and the stored ``received_at`` → ``acknowledged_at``.
4. Commit → encounter timeline and → SSE client at 50 messages/s, with a real Celery worker
   (2 processes) and the served stack (the front and the stream server, as ``make run``; ADR 7)
   with one live viewer per encounter.

Targets (issue 6): ≥ 0.5x the floor and ≥ 200 messages/s; ACK p99 < 50 ms; push p99 < 100 ms.
Usage: make bench-ingest  (options: --messages N --rate R --connections C)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, pct, psycopg_url, setup_django

OBX_PER_MESSAGE = 20
VT, FS, CR = b"\x0b", b"\x1c", b"\r"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def oru(n: int, *, mrn: str, authority: str, placer: str) -> bytes:
    """A 20-OBX ORU^R01: a full blood count style panel with units, ranges and flags."""
    lines = [
        f"MSH|^~\\&|BENCHLIS|BENCHLAB|CLINIC||20261201101500+0000||ORU^R01^ORU_R01|B{n:08d}|P|2.5.1",
        f"PID|1||{mrn}^^^{authority}^MR||Bench^Pat||19700101|F",
        f"ORC|RE|{placer}|A{n:08d}",
        f"OBR|1|{placer}|A{n:08d}|24317-0^Hemogram and platelet count, automated^LN|||20261201090000+0000"
        "|||||||||||||||20261201101000+0000|||F",
    ]
    for i in range(1, OBX_PER_MESSAGE + 1):
        flag = "H" if i % 7 == 0 else "N"
        lines.append(
            f"OBX|{i}|NM|{20000 + i}-{i % 10}^Analyte {i}^LN||{4 + i / 10:.1f}|10*9/L^^UCUM|4.0-11.0|{flag}|||F"
            "|||20261201090000+0000"
        )
    return ("\r".join(lines) + "\r").encode()


# --- 1. Parsers -----------------------------------------------------------------------------


def parsers(sample: bytes) -> None:
    from zoneinfo import ZoneInfo

    import hl7
    from hl7apy.parser import parse_message

    from interop.v2 import er7, oru

    text = er7.normalise(sample.decode())
    zone = ZoneInfo("Europe/London")

    def timed(fn, n: int) -> float:  # type: ignore[no-untyped-def]
        fn()
        started = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - started) / n * 1000

    bare = timed(lambda: [s.split("|") for s in text.split("\r")], 2000)
    ours = timed(
        lambda: oru.result_message(er7.parse(text), sending_facility="BENCHLAB", zone=zone, source="bench"), 500
    )
    package = timed(lambda: hl7.parse(text), 100)
    apy = timed(lambda: parse_message(text, find_groups=False), 10)
    print(f"parsers, one {OBX_PER_MESSAGE}-OBX ORU^R01 ({len(sample)} bytes):")
    print(f"  bare split (floor)                     {bare:8.3f} ms")
    print(f"  interop.v2.er7 + oru mapping (chosen)  {ours:8.3f} ms")
    print(f"  hl7 package (hl7.parse)                {package:8.3f} ms")
    print(f"  hl7apy (parse_message)                 {apy:8.3f} ms")


# --- 2. Throughput --------------------------------------------------------------------------


class MLLPConnection:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, message: bytes) -> bytes:
        self.sock.sendall(VT + message + FS + CR)
        while FS not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        end = self.buffer.index(FS)
        ack, self.buffer = self.buffer[1:end], self.buffer[end + 2 :]
        return ack


def closed_loop(port: int, messages: list[bytes], connections: int) -> tuple[float, int]:
    """Messages/s over ``connections`` persistent connections; and how many ACKs were not AA."""
    shares = [messages[i::connections] for i in range(connections)]
    not_aa = 0
    lock = threading.Lock()

    def run(share: list[bytes]) -> None:
        nonlocal not_aa
        conn = MLLPConnection(port)
        bad = sum(1 for m in share if b"MSA|AA|" not in conn.send(m))
        with lock:
            not_aa += bad

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(run, shares))
    return len(messages) / (time.perf_counter() - started), not_aa


def floor_server(url: str, port: int, workers: int) -> None:
    """The floor: MLLP framing, a bare split, one multi-row INSERT of the OBX values, an ACK."""
    import psycopg

    local = threading.local()

    def connection() -> psycopg.Connection:  # type: ignore[type-arg]
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(psycopg_url(url), autocommit=True)
        return local.conn  # type: ignore[no-any-return]

    def process(payload: bytes) -> bytes:
        segments = [s.split("|") for s in payload.decode().split("\r") if s]
        msh = segments[0]
        rows = [(msh[9], s[3].split("^")[0], s[5], s[6].split("^")[0]) for s in segments if s[0] == "OBX"]
        placeholders = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        connection().execute(
            f"INSERT INTO bench_ingest_floor (control_id, code, value, unit) VALUES {placeholders}",
            [v for row in rows for v in row],
        )
        return f"MSH|^~\\&|FLOOR||||||ACK|1|P|2.5.1\rMSA|AA|{msh[9]}\r".encode()

    pool = ThreadPoolExecutor(workers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        buffer = b""
        while True:
            data = await reader.read(65536)
            if not data:
                break
            buffer += data
            while FS in buffer:
                end = buffer.index(FS)
                payload, buffer = buffer[buffer.index(VT) + 1 : end], buffer[end + 2 :]
                ack = await loop.run_in_executor(pool, process, payload)
                writer.write(VT + ack + FS + CR)
                await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children that are still running, from
    /proc (Linux): where the machine's two cores went during a run."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1] is the parent's PID
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def postgres_cpu_seconds() -> float:
    """CPU time of the PostgreSQL server: its live processes, plus what the postmaster has
    collected from backends that have exited (cutime/cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        if "(postgres)" in raw:
            stats[int(entry)] = raw.rsplit(")", 1)[1].split()
    total = 0.0
    for fields in stats.values():
        total += (int(fields[11]) + int(fields[12])) / tick
        if int(fields[1]) not in stats:  # the postmaster: add its exited children
            total += (int(fields[13]) + int(fields[14])) / tick
    return total


# --- 3. Latency at a rate -------------------------------------------------------------------


def open_loop(port: int, messages: list[bytes], rate: float, connections: int) -> list[float]:
    """Round-trip ms per message, sent at ``rate``/s spread over ``connections``."""
    per = rate / connections
    latencies: list[float] = []
    lock = threading.Lock()

    def run(share: list[bytes], offset: float) -> None:
        conn = MLLPConnection(port)
        next_at = time.perf_counter() + offset
        for m in share:
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += 1.0 / per
            started = time.perf_counter()
            conn.send(m)
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    shares = [messages[i::connections] for i in range(connections)]
    threads = [threading.Thread(target=run, args=(s, i / rate)) for i, s in enumerate(shares)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000, help="messages in the throughput run")
    parser.add_argument("--rate", type=float, default=50.0, help="offered rate of the latency runs")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each latency run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--listener-workers", type=int, default=8)
    parser.add_argument("--listener-processes", type=int, default=1, help="mllp_listener --processes")
    parser.add_argument(
        "--worker-options",
        default="--pool threads --concurrency 8",
        help="pool options of the Celery worker (as make run)",
    )
    parser.add_argument("--skip-throughput", action="store_true", help="only the latency runs (3 and 4)")
    parser.add_argument("--floor-server", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        floor_server(os.environ["DATABASE_URL"], int(args.floor_server), args.listener_workers)
        return 0
    url = setup_django()

    import httpx
    import psycopg
    from django.db import transaction

    from billing.demo import seed as seed_demo_fees
    from clinic import services as kernel
    from clinic.models import Site, Tenant
    from encounters import services as encounters
    from encounters.contracts import EncounterStatus
    from encounters.models import TimelineEntry
    from identity.contracts import Demographics, HumanName, IdentifierInput
    from identity.facade import register_patient
    from interop import services as interop
    from interop.models import InboundMessage
    from orders import services as orders
    from terminology.demo import seed_in_transaction as seed_demo_catalogue

    slug = f"bench-ingest-{int(time.time())}"
    with transaction.atomic():
        tenant = kernel.create_tenant(slug=slug, name="Bench ingest")
        site = Site.objects.create(tenant=tenant, code="main", name="Main")
    Tenant.objects.exclude(pk=tenant.pk).filter(slug__startswith="bench-ingest-").update(is_active=False)
    from interop.models import LabPartner

    LabPartner.objects.filter(facility="BENCHLAB").update(active=False)  # earlier runs' partners
    seed_demo_catalogue(tenant_id=tenant.pk)
    seed_demo_fees(tenant_id=tenant.pk)
    interop.create_lab_partner(tenant_id=tenant.pk, name="Bench lab", facility="BENCHLAB", application="BENCHLIS")
    authority = slug.upper()
    patients = 10
    visits = []  # (mrn, placer, encounter)
    for i in range(patients):
        with transaction.atomic():
            patient = register_patient(
                tenant_id=tenant.pk,
                identifiers=[IdentifierInput(system=f"urn:clinic:{slug}:mrn", value=f"BI{i:05d}")],
                demographics=Demographics(name=HumanName(family=f"Bench{i}", given=("Pat",))),
                confirm_new=True,
                actor="bench",
            ).patient
        encounter = encounters.open_walk_in(tenant_id=tenant.pk, patient_id=patient.id, site_id=site.pk, actor="b")
        encounters.move_encounter(
            tenant_id=tenant.pk, encounter_id=encounter.pk, to=EncounterStatus.IN_PROGRESS, actor="b"
        )
        placed, _ = orders.place_orders(tenant_id=tenant.pk, encounter_id=encounter.pk, codes=["FBC"], actor="b")
        visits.append((f"BI{i:05d}", placed[0].placer_number, encounter.pk))

    counter = iter(range(10**9))

    def batch(n: int) -> list[bytes]:
        out = []
        for _ in range(n):
            k = next(counter)
            mrn, placer, _enc = visits[k % len(visits)]
            out.append(oru(k + int(time.time()) * 1000, mrn=mrn, authority=authority, placer=placer))
        return out

    parsers(batch(1)[0])

    env = {**os.environ, "DATABASE_URL": url, "CLINIC_LOG_LEVEL": "WARNING"}
    port = free_port()
    listener = subprocess.Popen(
        [sys.executable, "manage.py", "mllp_listener", "--port", str(port), "--workers", str(args.listener_workers),
         "--processes", str(args.listener_processes)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    floor_port = free_port()
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_ingest_floor")
        conn.execute(
            "CREATE TABLE bench_ingest_floor"
            " (id bigserial primary key, control_id text, code text, value text, unit text)"
        )
    floor = subprocess.Popen(
        [sys.executable, __file__, "--floor-server", str(floor_port), "--listener-workers", str(args.listener_workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = web = None
    try:
        wait_port(port)
        wait_port(floor_port)
        closed_loop(port, batch(100), args.connections)  # warm caches and connections
        if not args.skip_throughput:
            closed_loop(floor_port, batch(100), args.connections)
            ours, bad = closed_loop(port, batch(args.messages), args.connections)
            base, _ = closed_loop(floor_port, batch(args.messages), args.connections)
            print(
                f"throughput, {args.messages} new {OBX_PER_MESSAGE}-OBX results over {args.connections} "
                "MLLP connections:"
            )
            print(
                f"  mllp_listener, {args.listener_processes} process(es) (store, chart, commit, ACK)"
                f"  {ours:7.0f} messages/s  ({bad} not AA)"
            )
            print(
                f"  floor, 1 process (bare split + one bulk INSERT)  {base:7.0f} messages/s"
                f"  → {ours / base:.2f}x the floor"
            )
        floor.terminate()

        # 3. Receipt → ACK at the offered rate (no worker yet: the queue fills; delivery is part 4).
        count = int(args.rate * args.seconds)
        started_at = time.time()
        latencies = open_loop(port, batch(count), args.rate, 10)
        time.sleep(0.5)  # the listener records ACK times in batches
        stored = list(
            InboundMessage.objects.filter(tenant_id=tenant.pk, received_at__gte=_dt(started_at))
            .exclude(acknowledged_at__isnull=True)
            .values_list("received_at", "acknowledged_at")
        )
        server_side = [(a - r).total_seconds() * 1000 for r, a in stored]
        print(f"receipt → ACK at {args.rate:g} messages/s offered ({count} messages, 10 connections):")
        print(
            f"  client round trip        p50 {statistics.median(latencies):6.1f} ms  p99 {pct(latencies, 99):6.1f} ms"
        )
        if server_side:
            print(
                f"  stored received → acked  p50 {statistics.median(server_side):6.1f} ms  "
                f"p99 {pct(server_side, 99):6.1f} ms"
            )

        # 4. Commit → timeline and → SSE, with the worker draining the backlog first.
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q",
             f"{os.environ['CLINIC_QUEUE_PREFIX']}events,{os.environ['CLINIC_QUEUE_PREFIX']}default",
             *args.worker_options.split(), "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        from bench.servers import Ports, serving

        served = serving("served", url, Ports())
        web = served.__enter__()
        web_port = web.port
        from clinic.models import OutboxEvent

        deadline = time.monotonic() + 600
        while OutboxEvent.objects.filter(tenant_id=tenant.pk, delivered_at__isnull=True).exists():
            if time.monotonic() > deadline:
                print("  (the worker did not drain the backlog in 600 s)")
                break
            time.sleep(1)  # (no sweep here: every event reached the broker at commit, and a sweep would queue copies)
        _client, token = kernel.create_api_client(tenant_id=tenant.pk, name="bench")
        received: dict[str, float] = {}
        stop = threading.Event()

        def viewer(encounter_id: object) -> None:
            stream_url = f"http://127.0.0.1:{web_port}/api/encounters/{encounter_id}/stream"
            try:
                with (
                    httpx.Client(timeout=None) as client,
                    client.stream("GET", stream_url, headers={"Authorization": f"Bearer {token}"}) as r,
                ):
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            entry = json.loads(line[6:])
                            received.setdefault(entry["event_id"], time.time())
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                return  # the servers stopped at the end of the run

        for _mrn, _placer, encounter_id in visits:
            threading.Thread(target=viewer, args=(encounter_id,), daemon=True).start()
        time.sleep(3.0)  # the streams are up, their catch-up replay is done
        received.clear()
        started_at = time.time()
        cpu_before = {
            "listener": cpu_seconds(listener.pid),
            "worker": cpu_seconds(worker.pid),
            "stream server": cpu_seconds(web.processes["stream"].pid),
            "front": cpu_seconds(web.processes["front"].pid),
            "PostgreSQL": postgres_cpu_seconds(),
            "bench client": time.process_time(),
        }
        open_loop(port, batch(count), args.rate, 10)
        elapsed = time.time() - started_at
        cpu_after = {
            "listener": cpu_seconds(listener.pid),
            "worker": cpu_seconds(worker.pid),
            "stream server": cpu_seconds(web.processes["stream"].pid),
            "front": cpu_seconds(web.processes["front"].pid),
            "PostgreSQL": postgres_cpu_seconds(),
            "bench client": time.process_time(),
        }
        deadline = time.monotonic() + 60
        rows = []
        while time.monotonic() < deadline:
            rows = list(
                InboundMessage.objects.filter(tenant_id=tenant.pk, received_at__gte=_dt(started_at))
                .exclude(committed_at__isnull=True)
                .values_list("committed_at", "event_ids")
            )
            events = [str(e) for _c, ids in rows for e in ids]
            if len(rows) >= count and all(e in received for e in events):
                break
            time.sleep(0.5)
        stop.set()
        committed = {str(e): c for c, ids in rows for e in ids}
        entries = TimelineEntry.objects.filter(event_id__in=list(committed)).values_list("event_id", "created_at")
        to_entry = [(created - committed[str(e)]).total_seconds() * 1000 for e, created in entries]
        to_sse = [(received[e] - committed[e].timestamp()) * 1000 for e in committed if e in received]
        print(
            f"commit → encounter at {args.rate:g} messages/s, real worker ({args.worker_options}),"
            " the front and the stream server:"
        )
        for label, values in (("commit → timeline entry", to_entry), ("commit → SSE client", to_sse)):
            if values:
                print(
                    f"  {label:24} p50 {statistics.median(values):6.1f} ms  p99 {pct(values, 99):6.1f} ms  "
                    f"(n={len(values)} of {len(committed)})"
                )
            else:
                print(f"  {label:24} no data")
        shares = ", ".join(f"{k} {(cpu_after[k] - cpu_before[k]) / elapsed:.2f}" for k in cpu_before)
        print(f"  CPU in cores while sending: {shares}")
    finally:
        if web is not None:
            served.__exit__(None, None, None)
        for proc in (listener, floor, worker):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        Tenant.objects.filter(pk=tenant.pk).update(is_active=False)
    return 0


def _dt(ts: float):  # type: ignore[no-untyped-def]
    import datetime

    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)


if __name__ == "__main__":
    sys.exit(main())
