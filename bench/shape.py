"""Benchmark of the serving shape (ADR 7): the served stack, as ``make run`` serves it, next to
the same views under plain gunicorn with as many processes (the reference), in the same run.

Load comes from Debian's ``wrk`` (C, so the cores are left to the servers), ``--threads``
threads and ``--connections`` keep-alive connections (the issue's ``-t2 -c4``), each request a
random patient of the bench tenant, on four endpoints:

- ``GET /healthz`` (a database round trip and a broker ping);
- ``GET /fhir/Patient/{id}``;
- ``GET /fhir/Observation?patient={id}&_count=100`` (100 observations per patient);
- ``GET /api/patients/{id}`` (the REST API, bearer token).

Each endpoint is measured in ``--rounds`` slices of ``--duration`` seconds, the served stack
and the reference taking turns, so that the other load of a busy machine falls on both alike;
req/s is over all slices, p50 and p99 the median of the slices'. Every answer is checked once
before the load (status and shape); wrk counts non-2xx answers and socket errors during it.

Then the streams: ``--streams`` SSE clients (an asyncio client in a process of its own) hold
the timeline of one encounter open through the front while the same reads run again against
the served stack (target: ≥ 0.8x their rate without the streams), ``/healthz`` is polled
twice a second (it must stay 200), and a timeline entry is appended every second (as the
worker appends them: the row, the commit, the push); each reaches every client (target: p99
< 250 ms from before its append to its arrival at the client).

Data: 200 patients with 20 reports of 5 observations each (20,000 observations), generated
with ``INSERT ... SELECT`` into ``<db>_http_bench`` and kept between runs (bench/fhir.py's
generator), plus the encounter the streams watch.

Targets (issue 13): served ≥ 0.9x the reference on every endpoint; with the streams open,
reads ≥ 0.8x, /healthz always 200, entry → all clients p99 < 250 ms.
Usage: make bench-http  (BENCH_ARGS: --duration S --rounds N --threads T --connections C
--streams N --entries N --port-base P --asgi --profile --skip-streams)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, bench_database_url, pct, setup_django
from bench.ingest import cpu_seconds, postgres_cpu_seconds

PATIENTS = 200
REPORTS = 20  # x 5 observations: 100 per patient, one full page of the search
SLUG = "bench-http"

WRK_SCRIPT = r"""
local paths = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(seed * 7919 + os.time())
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "connect": %d, "read": %d,'
    .. ' "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


# --- Data ---------------------------------------------------------------------------------------


def http_database_url() -> str:
    parts = urlsplit(bench_database_url())
    base = parts.path.rstrip("/").removesuffix("_bench")
    return urlunsplit(parts._replace(path=f"{base}_http_bench"))


@dataclass
class Data:
    tenant_id: int
    token: str
    patients: list[str]
    encounter_id: str


def prepare() -> Data:
    from bench.fhir import ensure_data, patient_id
    from clinic import services as kernel
    from clinic.models import Site
    from encounters import services as encounters
    from encounters.models import Encounter

    url = os.environ["DATABASE_URL"]
    tenant_id, how = ensure_data(url, PATIENTS, reports=REPORTS, slug=SLUG)
    print(f"data: {PATIENTS} patients, {PATIENTS * REPORTS * 5:,} observations ({url.rsplit('/', 1)[1]}), {how}")
    _client, token = kernel.create_api_client(
        tenant_id=tenant_id, name=f"bench-http-{time.time_ns()}", scopes=["api:read", "system/*.read"]
    )
    patients = [patient_id(i) for i in range(1, PATIENTS + 1)]
    encounter = Encounter.objects.filter(tenant_id=tenant_id, patient_id=patients[0]).first()
    if encounter is None:
        site = Site.objects.get(tenant_id=tenant_id, code="main")
        encounter = encounters.open_walk_in(tenant_id=tenant_id, patient_id=uuid.UUID(patients[0]), site_id=site.pk,
                                            actor="bench")  # fmt: skip
    return Data(tenant_id, token, patients, str(encounter.pk))


ENDPOINTS = [
    ("healthz", "/healthz", "GET /healthz"),
    ("fhir-read", "/fhir/Patient/{p}", "GET /fhir/Patient/{id}"),
    ("fhir-search", "/fhir/Observation?patient={p}&_count=100", "GET /fhir/Observation?patient=…&_count=100"),
    ("rest-read", "/api/patients/{p}", "GET /api/patients/{id}"),
]


def check(base: str, key: str, data: Data) -> str | None:
    """One request to the endpoint: None when its answer is right, else what is wrong."""
    import httpx

    pid = data.patients[7]
    path = {k: p for k, p, _ in ENDPOINTS}[key].format(p=pid)
    response = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {data.token}"}, timeout=30)
    if response.status_code != 200:
        return f"{path}: status {response.status_code}: {response.text[:200]}"
    body = response.json()
    if key == "healthz" and body.get("checks", {}).get("database") != "ok":
        return f"{path}: {body}"
    if key == "fhir-read" and (body.get("resourceType"), body.get("id")) != ("Patient", pid):
        return f"{path}: {body.get('resourceType')}/{body.get('id')}"
    if key == "fhir-search":
        matches = [e for e in body.get("entry", []) if e.get("search", {}).get("mode", "match") == "match"]
        if len(matches) != REPORTS * 5:
            return f"{path}: {len(matches)} observations, not {REPORTS * 5}"
    if key == "rest-read" and body.get("id") != pid:
        return f"{path}: patient {body.get('id')}"
    return None


# --- wrk ----------------------------------------------------------------------------------------


@dataclass
class Slice:
    requests: int
    seconds: float
    p50: float
    p99: float
    errors: Counter[str]


@dataclass
class Runs:
    slices: list[Slice] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process, over the slices

    @property
    def rate(self) -> float:
        seconds = sum(s.seconds for s in self.slices)
        return sum(s.requests for s in self.slices) / seconds if seconds else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(s.p50 for s in self.slices)

    @property
    def p99(self) -> float:
        return statistics.median(s.p99 for s in self.slices)

    @property
    def errors(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for s in self.slices:
            total.update(s.errors)
        return total

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.slices)


class Wrk:
    def __init__(self, workdir: Path, data: Data, args: argparse.Namespace) -> None:
        self.binary = shutil.which("wrk") or "/usr/bin/wrk"
        self.script = workdir / "random.lua"
        self.script.write_text(WRK_SCRIPT)
        self.paths: dict[str, Path] = {}
        for key, template, _ in ENDPOINTS:
            target = workdir / f"{key}.paths"
            target.write_text("".join(template.format(p=p) + "\n" for p in data.patients))
            self.paths[key] = target
        self.token = data.token
        self.args = args

    def run(self, base: str, key: str, seconds: float) -> Slice:
        argv = [
            self.binary, f"-t{self.args.threads}", f"-c{self.args.connections}", f"-d{seconds:g}s", "--timeout", "10s",
            "-H", f"Authorization: Bearer {self.token}", "-s", str(self.script), base, "--", str(self.paths[key]),
        ]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
        found = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
        if not found:
            raise RuntimeError(f"wrk failed: {out.stdout[-500:]} {out.stderr[-500:]}")
        r = json.loads(found.group(1))
        errors = Counter({k: r[k] for k in ("connect", "read", "write", "status", "timeout") if r[k]})
        return Slice(r["requests"], r["duration_us"] / 1e6, r["p50_us"] / 1000, r["p99_us"] / 1000, errors)


def measure(
    wrk: Wrk, servers: dict[str, Any], keys: list[str], args: argparse.Namespace
) -> dict[tuple[str, str], Runs]:
    """Every endpoint on every server, in turns: round after round, server after server."""
    from bench.servers import Served

    results: dict[tuple[str, str], Runs] = {}
    for key in keys:
        for shape in servers:  # warm: imports, connections, caches
            wrk.run(servers[shape].url, key, 1)
        for _ in range(args.rounds):
            for shape, served in servers.items():
                assert isinstance(served, Served)
                runs = results.setdefault((shape, key), Runs())
                before = _cpu(served)
                runs.slices.append(wrk.run(served.url, key, args.duration))
                after = _cpu(served)
                for name in after:
                    runs.cpu[name] = runs.cpu.get(name, 0.0) + after[name] - before[name]
    return results


def _cpu(served: Any) -> dict[str, float]:
    out = {name: cpu_seconds(pid) for name, pid in served.pids().items()}
    out["PostgreSQL"] = postgres_cpu_seconds()
    return out


def print_table(results: dict[tuple[str, str], Runs], shapes: list[str], keys: list[str], title: str) -> None:
    print(title)
    print(
        f"  {'endpoint':44} {'shape':10} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'vs ref':>7} {'errors':>7}"
        "  CPU ms/req by process"
    )
    described = {k: d for k, _, d in ENDPOINTS}
    for key in keys:
        reference = results.get(("reference", key))
        for shape in shapes:
            runs = results.get((shape, key))
            if runs is None:
                continue
            compared = reference is not None and reference.rate and shape != "reference"
            ratio = f"{runs.rate / reference.rate:.2f}x" if compared and reference else ""
            cpu = ", ".join(f"{n} {v * 1000 / runs.requests:.2f}" for n, v in runs.cpu.items() if runs.requests)
            errors = sum(runs.errors.values())
            label = described[key] if shape == shapes[0] else ""
            print(
                f"  {label:44} {shape:10} {runs.rate:7.0f} {runs.p50:7.2f} {runs.p99:7.2f} {ratio:>7} {errors:>7}"
                f"  {cpu}"
            )
            for what, n in runs.errors.most_common():
                print(f"      {n} x {what} errors")
        slices = " / ".join(
            f"{shape} " + " ".join(f"{s.requests / s.seconds:.0f}" for s in results[(shape, key)].slices)
            for shape in shapes
            if (shape, key) in results
        )
        print(f"      (req/s per slice: {slices})")


# --- Profile --------------------------------------------------------------------------------------

CATEGORIES = [
    ("asgiref thread hops (sync_to_async / async_to_sync)", "asgiref/sync.py"),
    ("Django ASGI handler", "django/core/handlers/asgi.py"),
    ("Django WSGI handler", "django/core/handlers/wsgi.py"),
    ("uvicorn (HTTP, event loop)", "uvicorn/"),
    ("gunicorn (HTTP, worker loop)", "gunicorn/"),
    ("middleware (incl. the view)", "django/utils/deprecation.py"),
    ("a thread per request (Thread.start / join)", "Thread.start ("),
    ("database: connect", "connect ("),
    ("database: pool checkout", "psycopg_pool/"),
    ("database: queries", "psycopg/cursor.py"),
    ("authentication (token lookup)", "clinic/api/authentication.py"),
    ("FHIR edge (interop/fhir)", "interop/fhir/"),
    ("REST views (DRF)", "rest_framework/"),
    ("JSON (orjson / json)", "json/"),
]


def profile(served: Any, wrk: Wrk, key: str, seconds: float) -> None:
    """Sample the request-serving processes with py-spy while wrk loads ``key``; print where the
    time went (share of the samples whose stack passes through each category)."""
    from bench.servers import worker_pids

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    pids = worker_pids(served)
    outputs = []
    spies = []
    for pid in pids:
        out = Path(tempfile.mkstemp(suffix=".txt")[1])
        outputs.append(out)
        # --gil: only the thread holding the GIL is sampled, so the shares are of the Python CPU time.
        argv = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250", "--format",
                "raw", "--output", str(out), "--gil"]  # fmt: skip
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)
    wrk.run(served.url, key, seconds)
    for s in spies:
        s.wait(timeout=seconds + 30)
    stacks: Counter[str] = Counter()
    for out in outputs:
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if count.isdigit():
                stacks[stack] += int(count)
        out.unlink()
    total = sum(stacks.values())
    if not total:
        print(f"  profile of {served.shape}: no samples (py-spy needs ptrace: run as root)")
        return
    print(
        f"  profile of {served.shape} under {key}: {total} samples of the GIL holder in {len(pids)} process(es)"
        " (py-spy --gil), share of the samples whose stack passes through:"
    )
    for label, marker in CATEGORIES:
        share = sum(n for s, n in stacks.items() if marker in s) / total
        if share >= 0.005:
            print(f"    {share * 100:5.1f} %  {label}")
    own: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    for stack, n in stacks.items():
        leaf = stack.rsplit(";", 1)[-1]
        own[re.sub(r"\s*\(/.*?/site-packages/", " (", leaf)] += n
        by_package[_package(leaf)] += n
    print("    own time by package (of the innermost frame):")
    print("    " + ", ".join(f"{name} {n / total * 100:.0f} %" for name, n in by_package.most_common(12)))
    print("    top frames by own time:")
    for frame, n in own.most_common(8):
        print(f"    {n / total * 100:5.1f} %  {frame[:130]}")


def _package(frame: str) -> str:
    """The package of a py-spy frame ``function (path:line)``: the installed distribution's top
    module, the project's app, or the standard library module."""
    found = re.search(r"\((.*?):\d+\)$", frame)
    if not found:
        return "(native)"
    path = found.group(1)
    if not path.startswith("/"):  # py-spy names files by their module path: django/db/..., threading.py
        return path.split("/", 1)[0].removesuffix(".py")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(ROOT)):
        return path[len(str(ROOT)) + 1 :].split("/", 1)[0]
    parts = path.split("/")
    library = next((i for i, part in enumerate(parts) if re.fullmatch(r"python3\.\d+", part)), None)
    return parts[library + 1].removesuffix(".py") if library is not None and library + 1 < len(parts) else path


# --- The streams --------------------------------------------------------------------------------


async def _sse_client(url: str, token: str, count: int, ready_timeout: float) -> None:
    """Hold ``count`` streams of ``url`` open; print ``READY <n>``; on ``STOP`` (stdin), print
    ``RESULT <json>``: for each SSE id, the times it arrived at each client."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    parts = urlsplit(url)
    request = (
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()
    arrivals: dict[int, list[float]] = {}
    status: Counter[str] = Counter()
    connected = 0
    ended = 0
    id_line = re.compile(rb"\nid: (\d+)\n")

    async def client(n: int, gate: asyncio.Semaphore) -> None:
        nonlocal connected, ended
        async with gate:
            try:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
            except (OSError, asyncio.IncompleteReadError) as exc:
                status[type(exc).__name__] += 1
                return
        code = head.split(b" ", 2)[1].decode()
        status[code] += 1
        if code != "200":
            writer.close()
            return
        connected += 1
        tail = b"\n"
        try:
            while data := await reader.read(65536):
                now = time.time()
                buffer = tail + data
                for found in id_line.finditer(buffer):
                    arrivals.setdefault(int(found.group(1)), []).append(now)
                tail = buffer[-64:] if b"\nid: " not in buffer[-64:] else buffer[buffer.rfind(b"\n", 0, -1) :]
        except OSError:
            pass
        ended += 1

    gate = asyncio.Semaphore(50)  # connections being opened at once
    started = time.monotonic()
    tasks = [asyncio.create_task(client(n, gate)) for n in range(count)]
    while connected + sum(v for k, v in status.items() if k != "200") < count:
        if time.monotonic() - started > ready_timeout:
            break
        await asyncio.sleep(0.05)
    print(f"READY {connected} {time.monotonic() - started:.2f} {json.dumps(status)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for task in tasks:
        task.cancel()
    print("RESULT " + json.dumps({"arrivals": arrivals, "connected": connected, "ended": ended}), flush=True)


def append_entries(data: Data, count: int, every: float, stop: threading.Event) -> dict[int, float]:
    """Append timeline entries to the watched encounter as the worker does (row, commit, push);
    return each entry's position and when its append began."""
    from django.db import transaction
    from django.utils import timezone

    from clinic.contracts import Event
    from encounters import services as encounters
    from encounters.models import TimelineEntry

    started: dict[int, float] = {}
    for n in range(count):
        if stop.is_set():
            break
        at = timezone.now()
        event = Event(
            id=uuid.uuid4(), type="result.available", tenant_id=data.tenant_id,
            payload={"summary": f"bench entry {n}", "report_id": str(uuid.uuid4())}, occurred_at=at, recorded_at=at,
            encounter_id=uuid.UUID(data.encounter_id),
        )  # fmt: skip
        t0 = time.time()
        with transaction.atomic():
            (entry_id,) = encounters.append_to_timeline(event=event)
        started[TimelineEntry.objects.get(pk=entry_id).seq] = t0
        time.sleep(every)
    return started


def streams_phase(served: Any, wrk: Wrk, data: Data, unloaded: dict[tuple[str, str], Runs], args: Any) -> list[str]:
    """The streams test; returns its target lines."""
    import httpx
    from django.db import connection

    url = f"{served.url}/api/encounters/{data.encounter_id}/stream"
    client = subprocess.Popen(
        [sys.executable, __file__, "--sse-client", url, "--token", data.token, "--streams", str(args.streams)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert client.stdin is not None
    assert client.stdout is not None
    ready = client.stdout.readline().split(maxsplit=3)
    connected, connect_seconds, statuses = int(ready[1]), float(ready[2]), ready[3].strip()
    print(
        f"\n{args.streams} SSE clients (asyncio, one process) on encounter {data.encounter_id} through the front: "
        f"{connected} open in {connect_seconds:.1f} s (statuses {statuses})"
    )
    time.sleep(1.0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity"
            " WHERE application_name = 'bench-served-stream'"
        )
        sessions, busy = cursor.fetchone()
    rss = _rss_mb(served.processes["stream"].pid)
    print(
        f"  stream server: {rss:.0f} MB resident, {sessions} PostgreSQL sessions (its pool), {busy} of them busy"
        " while the streams wait"
    )

    health: Counter[int | str] = Counter()
    stop = threading.Event()

    def poll_health() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                try:
                    health[http.get(f"{served.url}/healthz").status_code] += 1
                except httpx.HTTPError as exc:
                    health[type(exc).__name__] += 1
                stop.wait(0.5)

    appended: dict[int, float] = {}

    def appender() -> None:
        appended.update(append_entries(data, args.entries, 1.0, stop))

    threads = [threading.Thread(target=poll_health), threading.Thread(target=appender)]
    for t in threads:
        t.start()
    keys = [k for k, _, _ in ENDPOINTS if ("served", k) in unloaded]
    loaded: dict[tuple[str, str], Runs] = {}
    try:
        loaded = measure(wrk, {"served": served}, keys, argparse.Namespace(**{**vars(args), "rounds": 1}))
        threads[1].join()  # every entry appended
    finally:
        stop.set()
        for t in threads:
            t.join()
        time.sleep(1.0)
        client.stdin.write("STOP\n")
        client.stdin.flush()
        line = client.stdout.readline()
        client.wait(timeout=30)
    # The same reads again without the streams: the baseline is the mean of before and after, so
    # that a change in the machine's other load during the test falls on both sides.
    after = measure(wrk, {"served": served}, keys, argparse.Namespace(**{**vars(args), "rounds": 1}))
    result = json.loads(line.removeprefix("RESULT "))
    arrivals = {int(k): v for k, v in result["arrivals"].items()}
    latencies = [(t - appended[seq]) * 1000 for seq, times in arrivals.items() if seq in appended for t in times]
    delivered = sum(len(arrivals.get(seq, [])) for seq in appended)
    expected = len(appended) * connected

    print(
        f"  reads through the front with the {connected} streams open, vs without (served stack, this run: the mean"
        " of the rates before the streams and after them):"
    )
    print(f"  {'endpoint':44} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'without':>8} {'vs without':>10} {'errors':>7}")
    targets = []
    described = {k: d for k, _, d in ENDPOINTS}
    for key in keys:
        with_streams = loaded[("served", key)]
        without = (unloaded[("served", key)].rate + after[("served", key)].rate) / 2
        ratio = with_streams.rate / without if without else 0.0
        errors = sum(with_streams.errors.values())
        print(
            f"  {described[key]:44} {with_streams.rate:7.0f} {with_streams.p50:7.2f} {with_streams.p99:7.2f}"
            f" {without:8.0f} {ratio:9.2f}x {errors:>7}"
        )
        targets.append(
            f"  with {connected} streams open: {described[key]} ≥ 0.8x its rate without: {ratio:.2f}x"
            f"{'' if not errors else f' ({errors} errors)'}  {'met' if ratio >= 0.8 and not errors else 'MISSED'}"
        )
    bad_health = {k: v for k, v in health.items() if k != 200}
    print(f"  /healthz polled twice a second meanwhile: {dict(health)}")
    targets.append(
        f"  /healthz stays 200 with the streams open: {sum(health.values())} polls, "
        f"{sum(bad_health.values())} not 200  {'met' if not bad_health and health else 'MISSED'}"
    )
    if latencies:
        p50, p99 = statistics.median(latencies), pct(latencies, 99)
        print(
            f"  {len(appended)} timeline entries, one a second during the reads: {delivered} of {expected} arrivals;"
            f" append → client p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms"
        )
        ok = p99 < 250 and delivered == expected and connected == args.streams
        targets.append(
            f"  a timeline entry reaches all {args.streams} clients, p99 < 250 ms: {p99:.1f} ms,"
            f" {delivered}/{expected} arrivals, {connected} connected  {'met' if ok else 'MISSED'}"
        )
    else:
        targets.append(f"  a timeline entry reaches all {args.streams} clients: no arrivals  MISSED")
    return targets


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# --- Main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per slice")
    parser.add_argument("--rounds", type=int, default=3, help="slices per endpoint and shape")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--streams", type=int, default=500, help="SSE clients of the streams test")
    parser.add_argument("--entries", type=int, default=20, help="timeline entries appended during it")
    parser.add_argument("--skip-streams", action="store_true", help="only the reads")
    parser.add_argument("--endpoints", help="comma-separated subset of: " + ",".join(k for k, _, _ in ENDPOINTS))
    parser.add_argument("--asgi", action="store_true", help="also measure the shape before ADR 7 (uvicorn, ASGI)")
    parser.add_argument("--profile", action="store_true", help="py-spy the servers under the FHIR read")
    parser.add_argument("--port-base", type=int, default=0, help="listen on ports from here (default: free ones)")
    parser.add_argument("--sse-client", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sse_client:
        asyncio.run(_sse_client(args.sse_client, args.token, args.streams, ready_timeout=120))
        return 0

    from bench.servers import Ports, workers

    os.environ["DATABASE_URL"] = http_database_url()
    url = setup_django()
    data = prepare()
    shapes = ["served", "reference"] + (["asgi"] if args.asgi else [])
    print(
        f"HTTP serving shape (ADR 7): wrk -t{args.threads} -c{args.connections}, {args.rounds} x {args.duration:g} s"
        f" per endpoint and shape, in turns; {workers()} gunicorn workers in both; {os.cpu_count()} cores,"
        f" load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print(
        "  served: HAProxy front → gunicorn (deploy/gunicorn.conf.py) + stream server;"
        " reference: plain gunicorn, sync workers"
        + ("; asgi: uvicorn, Django ASGI, 1 process (before)" if args.asgi else "")
    )
    ports = Ports(args.port_base)
    keys = [k for k, _, _ in ENDPOINTS if not args.endpoints or k in args.endpoints.split(",")]
    targets: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, _servers(shapes, url, ports) as servers:
        wrk = Wrk(Path(tmp), data, args)
        problems = [f"{shape}: {p}" for shape in servers for k in keys if (p := check(servers[shape].url, k, data))]
        for problem in problems:
            print(f"  WRONG ANSWER {problem}")
        results = measure(wrk, servers, keys, args)
        print_table(results, shapes, keys, "\nreads, without streams:")
        for key in keys:
            served, reference = results[("served", key)], results[("reference", key)]
            ratio = served.rate / reference.rate if reference.rate else 0.0
            errors = sum(served.errors.values())
            described = {k: d for k, _, d in ENDPOINTS}[key]
            targets.append(
                f"  served ≥ 0.9x the reference on {described}: {ratio:.2f}x"
                f"{'' if not errors else f' ({errors} errors)'}  {'met' if ratio >= 0.9 and not errors else 'MISSED'}"
            )
        if args.profile:
            print()
            for shape in shapes:
                profile(servers[shape], wrk, "fhir-read", max(args.duration, 5))
        if not args.skip_streams:
            targets += streams_phase(servers["served"], wrk, data, results, args)
    print("\ntargets:")
    for line in targets:
        print(line)
    if problems:
        print("  WRONG ANSWERS: " + "; ".join(problems))
    return 0


class _servers:
    """Start every shape (each idle while another is measured)."""

    def __init__(self, shapes: list[str], url: str, ports: Any) -> None:
        from contextlib import ExitStack

        self.stack = ExitStack()
        self.shapes, self.url, self.ports = shapes, url, ports

    def __enter__(self) -> dict[str, Any]:
        from bench.servers import serving

        return {shape: self.stack.enter_context(serving(shape, self.url, self.ports)) for shape in self.shapes}

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


if __name__ == "__main__":
    random.seed(13)
    sys.exit(main())
