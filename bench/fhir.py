"""Benchmark of the FHIR R4 read API (Observation search and read), next to a floor measured in
the same run.

Endpoints, each over ``--connections`` keep-alive HTTP/1.1 connections (closed loop, one
thread each, plain ``http.client``) for ``--duration`` seconds, against the served stack as
``make run`` serves it (the HAProxy front and gunicorn, one worker per core; ADR 7) on 127.0.0.1,
random patients and observations:

- FHIR search: ``GET /fhir/Observation?patient=<uuid>&_count=100`` with a bearer token of scope
  ``system/*.read`` and ``Accept: application/fhir+json``; every answer must be a 200 searchset
  Bundle of the patient's 20 observations.
- FHIR read: ``GET /fhir/Observation/<uuid>``; every answer must be a 200 Observation of that ID.
- Floor: plain Django views in the same server (``bench/fhir_floor.py``) returning the same rows
  as ``Observation.objects.filter(tenant, patient).order_by("id").values()[:100]`` (or the one
  row by ID) + ``JsonResponse``; no authentication beyond the tenant filter.

Two scales, each in its own database (``<db>_fhir1k_bench``, ``<db>_fhir100k_bench``) so that a
table holds exactly its scale's rows (other benchmarks write observations into ``<db>_bench``)
and a re-run measures both without generating 2M rows again: 1k patients / 20k observations
(4 reports of 5 LOINC results each per patient), then 100k patients / 2M observations. The data
is generated with ``INSERT ... SELECT ... FROM generate_series``, vacuumed and analysed, and kept
while its counts match (``--rebuild`` drops both databases first).

After each scale's load, the SQL a FHIR search and a FHIR read issue (recorded at the psycopg
cursor, in this process, through ``django.test.Client``) is counted, timed and EXPLAINed: any
``Seq Scan`` on a table of more than 10k rows is reported.

Targets (issue): FHIR ≥ 0.5x the floor's requests/s on both; FHIR search p50 at 100k/2M
≤ 1.5x its p50 at 1k/20k; no sequential scans in the search's plans.
Usage: make bench-fhir  (BENCH_ARGS: --small-only --duration S --connections N --rebuild --profile)
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import http.client
import json
import os
import pstats
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_database_url, ensure_database, pct, psycopg_url, setup_django
from bench.ingest import cpu_seconds, postgres_cpu_seconds

TENANT_SLUG = "bench-fhir"
SCALES = [("1k", 1_000), ("100k", 100_000)]
REPORTS_PER_PATIENT = 4
# (LOINC, display, unit, reference range, base value, spread): five results per report.
CODES = [
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", "70-99", 70, 60),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "0.6-1.3", 0.5, 1.2),
    ("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", "7-20", 5, 20),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", "135-145", 130, 18),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "3.5-5.1", 3.2, 2.4),
]
OBS_PER_PATIENT = REPORTS_PER_PATIENT * len(CODES)
PANEL = ("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma")
LOINC = "http://loinc.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
BIG_TABLE = 10_000  # a Seq Scan on a table with more rows than this is reported


# --- Identifiers: deterministic, so the load generator computes them instead of reading them --


def patient_id(i: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"bench-fhir-patient-{i}".encode()).hexdigest()))


def observation_id(i: int, k: int, c: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"bench-fhir-obs-{i}-{k}-{c}".encode()).hexdigest()))


# --- Databases --------------------------------------------------------------------------------


def scale_url(label: str) -> str:
    """``<db>_fhir<label>_bench`` next to the ``<db>_bench`` of the other benchmarks."""
    parts = urlsplit(bench_database_url())
    base = parts.path.rstrip("/").removesuffix("_bench")
    return urlunsplit(parts._replace(path=f"{base}_fhir{label}_bench"))


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    assert name.endswith("_bench"), name  # only this benchmark's own databases
    assert "_fhir" in name, name
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(psycopg_url(maintenance), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def use_database(url: str) -> None:
    """Point this (already set up) process's Django connection at another bench database,
    created and migrated."""
    from django.core.management import call_command
    from django.db import connections

    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    conn = connections["default"]
    conn.close()
    conn.settings_dict["NAME"] = urlsplit(url).path.lstrip("/")
    call_command("migrate", verbosity=0)


# --- Data -------------------------------------------------------------------------------------

PATIENTS_SQL = """
INSERT INTO identity_patient (id, tenant_id, family, given, other_names, birth_date, gender, telecom,
    address, active, replaced_by_id, family_key, given_key, phone_keys, version, created_at, updated_at)
SELECT md5('bench-fhir-patient-' || i)::uuid, %(tenant)s, 'Bench' || i, ARRAY['Pat'], '[]',
    date '1940-01-01' + i %% 25000, (ARRAY['female', 'male'])[1 + i %% 2], '[]', '[]', true, NULL,
    'bench' || i, 'pat', '{}', 1, now(), now()
FROM generate_series(1, %(patients)s) AS i
"""

REPORTS_SQL = """
INSERT INTO results_diagnosticreport (id, tenant_id, patient_id, encounter_id, order_id, sending_facility,
    placer_number, filler_number, accession, code_key, coded, status, v2_status, effective_at, issued_at,
    specimen, comments, version, content_sha256, source, sent_at, created_at, updated_at)
SELECT md5('bench-fhir-report-' || i || '-' || k)::uuid, %(tenant)s, md5('bench-fhir-patient-' || i)::uuid,
    NULL, NULL, 'BENCHLAB', 'P' || i || '-' || k, 'F' || i || '-' || k, 'A' || i || '-' || k,
    'LN|' || %(panel)s, %(panel_coded)s::jsonb, 'final', 'F', at, at + interval '2 hours', '{}', '[]', 1,
    md5('report-' || i || '-' || k), 'bench', at + interval '2 hours', now(), now()
FROM generate_series(1, %(patients)s) AS i, generate_series(0, %(reports)s - 1) AS k,
    LATERAL (SELECT timestamptz '2026-01-01 08:00+00' - (((i * 7 + k * 97) %% 730) * interval '1 day')) AS t(at)
"""

OBSERVATIONS_SQL = """
INSERT INTO results_observation (id, tenant_id, report_id, patient_id, encounter_id, sending_facility,
    placer_number, filler_number, accession, code_key, sub_id, set_id, coded, loinc, value_type,
    value_quantity, value_comparator, value_high, value_separator, value_string, value_coded, unit, unit_ucum,
    reference_range, abnormal_flags, interpretation, status, v2_status, effective_at, issued_at, comments,
    version, content_sha256, source, sent_at, created_at, updated_at)
SELECT md5('bench-fhir-obs-' || i || '-' || k || '-' || c.n)::uuid, %(tenant)s,
    md5('bench-fhir-report-' || i || '-' || k)::uuid, md5('bench-fhir-patient-' || i)::uuid, NULL, 'BENCHLAB',
    'P' || i || '-' || k, 'F' || i || '-' || k, 'A' || i || '-' || k, 'LN|' || c.loinc, '', (c.n + 1)::text,
    jsonb_build_object(
        'original', jsonb_build_object('system', %(loinc)s, 'code', c.loinc, 'display', c.display),
        'translated', jsonb_build_object('system', %(loinc)s, 'code', c.loinc, 'display', c.display),
        'map', NULL, 'as_of', to_char(at, 'YYYY-MM-DD')),
    c.loinc, 'NM', v.value, '', NULL, '', '', NULL, c.unit, c.unit, c.range,
    ARRAY[v.flag]::varchar[],
    jsonb_build_array(jsonb_build_object('system', %(interpretation)s, 'code', v.flag,
        'display', CASE v.flag WHEN 'H' THEN 'High' ELSE 'Normal' END)),
    'final', 'F', at, at + interval '2 hours', '[]', 1, md5('obs-' || i || '-' || k || '-' || c.n), 'bench',
    at + interval '2 hours', now(), now()
FROM generate_series(1, %(patients)s) AS i, generate_series(0, %(reports)s - 1) AS k,
    (VALUES {codes}) AS c(n, loinc, display, unit, range, base, spread),
    LATERAL (SELECT timestamptz '2026-01-01 08:00+00' - (((i * 7 + k * 97) %% 730) * interval '1 day')) AS t(at),
    LATERAL (SELECT round((c.base + c.spread * ((i * 31 + k * 17 + c.n * 7) %% 100) / 100.0)::numeric, 2)) AS q(x),
    LATERAL (SELECT q.x, CASE WHEN (i + k + c.n) %% 9 = 0 THEN 'H' ELSE 'N' END) AS v(value, flag)
"""


def _codes_values() -> tuple[str, dict[str, Any]]:
    rows, params = [], {}
    for n, (loinc, display, unit, range_, base, spread) in enumerate(CODES):
        rows.append(
            f"({n}, %(l{n})s::text, %(d{n})s::text, %(u{n})s::text, %(r{n})s::text,"
            f" %(b{n})s::numeric, %(s{n})s::numeric)"
        )
        params |= {f"l{n}": loinc, f"d{n}": display, f"u{n}": unit, f"r{n}": range_, f"b{n}": base, f"s{n}": spread}
    return ", ".join(rows), params


def counts(tenant_id: int) -> tuple[int, int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        found = []
        for table in ("identity_patient", "results_diagnosticreport", "results_observation"):
            cursor.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [tenant_id])
            found.append(cursor.fetchone()[0])
    return found[0], found[1], found[2]


def ensure_data(
    url: str, patients: int, *, reports: int = REPORTS_PER_PATIENT, slug: str = TENANT_SLUG
) -> tuple[int, str]:
    """The bench tenant of this database with ``patients`` patients and their ``reports``
    reports of five observations each: kept when the counts match, else generated anew.
    Returns the tenant ID and what was done."""
    import psycopg
    from django.db import transaction

    from clinic import services as kernel
    from clinic.models import Site, Tenant

    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        with transaction.atomic():
            tenant = kernel.create_tenant(slug=slug, name=f"Bench {slug}")
            Site.objects.create(tenant=tenant, code="main", name="Main")
    wanted = (patients, patients * reports, patients * reports * len(CODES))
    if counts(tenant.pk) == wanted:
        return tenant.pk, "kept from an earlier run"
    name = urlsplit(url).path.lstrip("/")
    # TRUNCATE only a database of its own (bench-fhir's scales, bench-http's), never <db>_bench.
    assert name.endswith("_bench"), name
    assert "_fhir" in name or "_http" in name, name
    codes_sql, code_params = _codes_values()
    params = {
        "tenant": tenant.pk,
        "patients": patients,
        "reports": reports,
        "panel": PANEL[0],
        "panel_coded": json.dumps(
            {
                "original": {"system": LOINC, "code": PANEL[0], "display": PANEL[1]},
                "translated": {"system": LOINC, "code": PANEL[0], "display": PANEL[1]},
                "map": None,
                "as_of": "2026-01-01",
            }
        ),
        "loinc": LOINC,
        "interpretation": INTERPRETATION,
        **code_params,
    }
    tables = ["identity_patient", "results_diagnosticreport", "results_observation"]
    timings = []
    started = time.perf_counter()
    # Client-side binding: the parameters are literals in the SQL, typed by their context.
    with psycopg.connect(psycopg_url(url), autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute("TRUNCATE results_observation, results_diagnosticreport, identity_patient CASCADE")
        with conn.transaction():
            conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            on_insert = conn.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = ANY(%s::regclass[]) AND NOT tgisinternal"
                " AND tgtype & 4 <> 0",  # TRIGGER_TYPE_INSERT
                [tables],
            ).fetchall()
            superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
            if not on_insert and superuser and superuser[0]:
                # The rows are consistent by construction: skip the foreign-key checks (2M x 4
                # lookups at commit). Only when no trigger of ours fires on INSERT, as replica
                # mode would skip it too.
                conn.execute("SET LOCAL session_replication_role = replica")
                timings.append("no FK checks")
            # Secondary indexes (none that backs a constraint) are built once, after the rows are
            # in, instead of row by row; all in this transaction, so a failure leaves them as were.
            indexes = conn.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " WHERE i.indrelid = ANY(%s::regclass[])"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [tables],
            ).fetchall()
            for index, _definition in indexes:
                conn.execute(f"DROP INDEX {index}")
            for label, statement in (
                ("patients", PATIENTS_SQL),
                ("reports", REPORTS_SQL),
                ("observations", OBSERVATIONS_SQL.format(codes=codes_sql)),
            ):
                t0 = time.perf_counter()
                conn.execute(statement, params)  # type: ignore[arg-type]
                timings.append(f"{label} {time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
            for _index, definition in indexes:
                conn.execute(definition)
            timings.append(f"{len(indexes)} indexes {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        conn.execute("VACUUM ANALYZE identity_patient, results_diagnosticreport, results_observation")
        timings.append(f"VACUUM ANALYZE {time.perf_counter() - t0:.1f} s")
    assert counts(tenant.pk) == wanted, (counts(tenant.pk), wanted)
    return tenant.pk, f"generated in {time.perf_counter() - started:.1f} s ({', '.join(timings)})"


# --- Load -------------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    requests: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)
    sessions: int = 0  # PostgreSQL sessions the server opened meanwhile

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return pct(self.latencies, 99) if self.latencies else float("nan")


Check = Callable[[int, bytes, str], str | None]  # (status, body, what was asked) → a failure, or None


def load(
    port: int,
    label: str,
    target: Callable[[random.Random], tuple[str, str]],
    check: Check,
    *,
    headers: dict[str, str],
    duration: float,
    connections: int,
    server_pids: list[int] | None = None,
) -> Run:
    """``connections`` threads, each one keep-alive connection, each sending the next request
    as soon as the last answer is read, for ``duration`` seconds. ``target`` picks a (path,
    what it asks for); ``check`` looks at every answer (after the clock has stopped for it)."""
    run = Run(label)
    lock = threading.Lock()
    start = threading.Barrier(connections + 1)
    stop_at = 0.0

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies: list[float] = []
        failures: Counter[str] = Counter()
        start.wait()
        while time.perf_counter() < stop_at:
            path, asked = target(rng)
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                failures[f"{type(exc).__name__}: {exc}"[:200]] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            problem = check(response.status, body, asked)
            if problem:
                failures[problem[:200]] += 1
        conn.close()
        with lock:
            run.latencies.extend(latencies)
            run.failures.update(failures)

    threads = [threading.Thread(target=worker, args=(i * 7919 + len(label),)) for i in range(connections)]
    for t in threads:
        t.start()
    cpu_before = _cpu(server_pids)
    started = time.perf_counter()
    stop_at = started + duration
    start.wait()
    for t in threads:
        t.join()
    run.elapsed = time.perf_counter() - started
    cpu_after = _cpu(server_pids)
    run.cpu = {k: (cpu_after[k] - cpu_before[k]) / run.elapsed for k in cpu_before}
    run.requests = len(run.latencies)
    return run


def _cpu(server_pids: list[int] | None) -> dict[str, float]:
    out = {"PostgreSQL": postgres_cpu_seconds(), "client": time.process_time()}
    if server_pids is not None:
        out["server"] = sum(cpu_seconds(pid) for pid in server_pids)  # the front and gunicorn's processes
    return out


def check_floor_search(status: int, body: bytes, asked: str) -> str | None:
    if status != 200:
        return f"status {status}: {body[:120]!r}"
    rows = json.loads(body)["rows"]
    if len(rows) != OBS_PER_PATIENT or rows[0]["patient_id"] != asked:
        return f"{len(rows)} rows"
    return None


def check_floor_read(status: int, body: bytes, asked: str) -> str | None:
    if status != 200:
        return f"status {status}: {body[:120]!r}"
    if json.loads(body).get("id") != asked:
        return "another row"
    return None


def check_fhir_search(status: int, body: bytes, asked: str) -> str | None:
    if status != 200:
        return f"status {status}: {body[:160]!r}"
    try:
        bundle = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:120]!r}"
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
        return f"not a searchset Bundle: {bundle.get('resourceType')} {bundle.get('type')}"
    entries = bundle.get("entry") or []
    matches = [e for e in entries if (e.get("search") or {}).get("mode", "match") == "match"]
    if len(matches) != OBS_PER_PATIENT:
        return f"{len(matches)} match entries, not {OBS_PER_PATIENT}"
    resource = matches[0].get("resource") or {}
    if resource.get("resourceType") != "Observation":
        return f"an entry is a {resource.get('resourceType')}"
    if not (resource.get("subject") or {}).get("reference", "").endswith(asked):
        return f"an entry's subject is {(resource.get('subject') or {}).get('reference')}"
    return None


def check_fhir_read(status: int, body: bytes, asked: str) -> str | None:
    if status != 200:
        return f"status {status}: {body[:160]!r}"
    try:
        resource = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:120]!r}"
    if resource.get("resourceType") != "Observation" or resource.get("id") != asked:
        return f"not Observation/{asked}: {resource.get('resourceType')}/{resource.get('id')}"
    return None


# --- The server ---------------------------------------------------------------------------------


@contextmanager
def server(url: str) -> Iterator[Any]:
    """The served stack as ``make run`` serves it (the front, gunicorn, the stream server: ADR 7)
    with the floor's routes added, on free ports of 127.0.0.1, against ``url``."""
    from bench.servers import Ports, serving

    with serving("served", url, Ports(), env={"DJANGO_SETTINGS_MODULE": "bench.fhir_settings"}) as served:
        yield served


# --- SQL of a request: recorded at the psycopg cursor, counted, timed, explained ---------------


@dataclass
class Statement:
    sql: str
    params: Any
    ms: float


@contextmanager
def recording() -> Iterator[list[Statement]]:
    """Every statement this process sends through psycopg meanwhile (Django's cursors, server-
    side cursors and raw psycopg cursors alike), with the time its execute took."""
    import psycopg

    log: list[Statement] = []
    patched = {cls: cls.execute for cls in (psycopg.Cursor, psycopg.ServerCursor)}

    def wrap(original: Any) -> Any:
        def execute(self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(self, query, params, *args, **kwargs)
            finally:
                text = query if isinstance(query, str) else getattr(query, "as_string", lambda _c: str(query))(self)
                if isinstance(text, bytes):
                    text = text.decode()
                log.append(Statement(text, params, (time.perf_counter() - t0) * 1000))

        return execute

    for cls, original in patched.items():
        cls.execute = wrap(original)  # type: ignore[method-assign]
    try:
        yield log
    finally:
        for cls, original in patched.items():
            cls.execute = original  # type: ignore[method-assign]


def _shape(sql: str) -> str:
    return " ".join(sql.split())[:110]


def explain(statements: list[Statement]) -> tuple[list[str], list[str]]:
    """The plan nodes of each SELECT, and the Seq Scans on tables of more than BIG_TABLE rows."""
    from django.db import connection

    nodes: list[str] = []
    seq: list[str] = []
    with connection.cursor() as cursor:
        for s in statements:
            if not s.sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            cursor.execute("EXPLAIN (FORMAT JSON) " + s.sql, s.params)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            stack = [plan[0]["Plan"]]
            found = []
            while stack:
                node = stack.pop()
                stack.extend(reversed(node.get("Plans", [])))
                kind = node["Node Type"]
                where = node.get("Relation Name")
                text = kind + (f" using {node['Index Name']}" if "Index Name" in node else "")
                text += f" on {where}" if where else ""
                found.append(text)
                if kind == "Seq Scan" and where:
                    cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [where])
                    rows = cursor.fetchone()[0]
                    if rows > BIG_TABLE:
                        seq.append(f"{where} ({rows:,.0f} rows) in: {_shape(s.sql)}")
            nodes.append(f"{_shape(s.sql)[:70]}…  →  " + "; ".join(found))
    return nodes, seq


def in_process(path: str, token: str, *, repeat: int = 50, fresh: bool = False) -> dict[str, Any]:
    """Call ``path`` in this process (django.test.Client, the product's URLs): statements per
    request and the ms each took, the request's total ms, and the statements of one request.
    ``fresh``: each request on a new database connection, as the ASGI server's were."""
    from django.db import connection
    from django.test import Client

    client = Client(headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"})
    first = client.get(path)  # warm: imports, caches, the connection
    per_request: list[list[Statement]] = []
    totals = []
    for _ in range(repeat):
        if fresh:
            connection.close()
        with recording() as log:
            t0 = time.perf_counter()
            client.get(path)
            totals.append((time.perf_counter() - t0) * 1000)
        per_request.append(log)
    by_shape: dict[str, list[float]] = {}
    for log in per_request:
        for s in log:
            by_shape.setdefault(_shape(s.sql), []).append(s.ms)
    return {
        "status": first.status_code,
        "total_ms": statistics.median(totals),
        "statements": statistics.median(len(log) for log in per_request),
        "sql_ms": statistics.median(sum(s.ms for s in log) for log in per_request),
        "by_shape": {k: (len(v) / repeat, statistics.median(v)) for k, v in by_shape.items()},
        "one": per_request[-1],
    }


def profile(path: str, token: str, repeat: int = 200) -> None:
    from django.test import Client

    client = Client(headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"})
    client.get(path)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        client.get(path)
    profiler.disable()
    print(f"  cProfile of {repeat} in-process requests {path.split('?')[0]} (top 30 by cumulative time):")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(30)


def sessions() -> int:
    """Sessions PostgreSQL has counted in this database (cumulative)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def fhir_available() -> str | None:
    """None when the product's URLs route /fhir/Observation, else why not."""
    from django.urls import Resolver404, resolve

    try:
        resolve("/fhir/Observation")
    except Resolver404:
        return "no /fhir/ route in config.urls"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


# --- Main ---------------------------------------------------------------------------------------


def measure_scale(label: str, patients: int, url: str, args: argparse.Namespace) -> dict[str, Run]:
    from clinic import services as kernel

    database = url.rsplit("/", 1)[1]
    print(f"\nscale {label}: {patients:,} patients, {patients * OBS_PER_PATIENT:,} observations ({database})")
    tenant_id, how = ensure_data(url, patients)
    print(f"  data: {how}")
    _client, token = kernel.create_api_client(
        tenant_id=tenant_id, name=f"bench-fhir-{time.time_ns()}", scopes=["system/*.read"]
    )
    missing = fhir_available()
    if missing:
        print(f"  FHIR API not available ({missing}): FHIR figures skipped, floor only")
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}

    def search_path(prefix: str) -> Callable[[random.Random], tuple[str, str]]:
        def target(rng: random.Random) -> tuple[str, str]:
            pid = patient_id(rng.randint(1, patients))
            return f"{prefix}?patient={pid}&_count=100", pid

        return target

    def read_path(prefix: str) -> Callable[[random.Random], tuple[str, str]]:
        def target(rng: random.Random) -> tuple[str, str]:
            i, k, c = rng.randint(1, patients), rng.randrange(REPORTS_PER_PATIENT), rng.randrange(len(CODES))
            oid = observation_id(i, k, c)
            return f"{prefix}/{oid}", oid

        return target

    floor = f"/bench-floor/{tenant_id}/Observation"
    plan: list[tuple[str, Callable[[random.Random], tuple[str, str]], Check, dict[str, str]]] = [
        ("floor search", search_path(floor), check_floor_search, {}),
        ("FHIR search", search_path("/fhir/Observation"), check_fhir_search, auth),
        ("floor read", read_path(floor), check_floor_read, {}),
        ("FHIR read", read_path("/fhir/Observation"), check_fhir_read, auth),
    ]
    if missing:
        plan = [p for p in plan if not p[0].startswith("FHIR")]
    runs: dict[str, Run] = {}
    with server(url) as served:
        port = served.port
        pids = [served.processes["front"].pid, served.processes["web"].pid]
        for name, target, check, headers in plan:  # warm every route (imports, connection, caches)
            load(port, name, target, check, headers=headers, duration=min(2.0, args.duration), connections=2)
        for name, target, check, headers in plan:
            before = sessions()
            runs[name] = load(
                port, name, target, check, headers=headers, duration=args.duration,
                connections=args.connections, server_pids=pids,
            )  # fmt: skip
            time.sleep(0.5)  # backends report their statistics at most once a second
            runs[name].sessions = sessions() - before
    print(
        f"  {'endpoint':52} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'vs floor':>8} {'failed':>6} {'PG sess':>8}"
        "  CPU ms/req: server, PostgreSQL (cores in use incl. client)"
    )
    described = {
        "floor search": "floor: /bench-floor/<t>/Observation?patient=…",
        "FHIR search": "FHIR:  GET /fhir/Observation?patient=…&_count=100",
        "floor read": "floor: /bench-floor/<t>/Observation/{id}",
        "FHIR read": "FHIR:  GET /fhir/Observation/{id}",
    }
    for name, run in runs.items():
        base = runs.get("floor " + name.split()[1])
        ratio = f"{run.rate / base.rate:.2f}x" if name.startswith("FHIR") and base and base.rate else ""
        failures = sum(run.failures.values())
        per = f"{run.sessions / run.requests:.2f}/req" if run.requests else ""
        cpu = ", ".join(f"{run.cpu.get(k, 0) * 1000 / run.rate:.1f}" for k in ("server", "PostgreSQL"))
        print(
            f"  {described[name]:52} {run.rate:6.0f} {run.p50:7.2f} {run.p99:7.2f} {ratio:>8} {failures:>6}"
            f" {per:>8}  {cpu} ({sum(run.cpu.values()):.2f})"
        )
        for problem, n in run.failures.most_common(5):
            print(f"      {n} x {problem}")
    print(
        "  (floor: plain Django views in the same server, .values() + JsonResponse, no auth beyond the tenant"
        " filter; PG sess: PostgreSQL sessions opened per request)"
    )

    sample = patient_id(random.Random(1).randint(1, patients))
    read_sample = observation_id(1, 0, 0)
    paths = [
        ("floor search", f"{floor}?patient={sample}"),
        ("FHIR search", f"/fhir/Observation?patient={sample}&_count=100"),
        ("floor read", f"{floor}/{read_sample}"),
        ("FHIR read", f"/fhir/Observation/{read_sample}"),
    ]
    if missing:
        paths = [p for p in paths if not p[0].startswith("FHIR")]
    print(
        "  in-process, one request at a time (django.test.Client, median of 50), on one open connection"
        " | on a new connection each (as the ASGI server had, before ADR 7):"
    )
    for name, path in paths:
        cold = in_process(path, token, fresh=True)
        found = in_process(path, token)
        print(
            f"    {name:13} status {found['status']}  {found['total_ms']:6.2f} ms per request, "
            f"{found['statements']:.0f} statements taking {found['sql_ms']:5.2f} ms"
            f" | {cold['total_ms']:6.2f} ms, {cold['statements']:.0f} statements taking {cold['sql_ms']:5.2f} ms"
        )
        if not name.startswith("FHIR"):
            continue
        for shape, (per, ms) in found["by_shape"].items():
            print(f"      {per:4.1f} x {ms:6.2f} ms  {shape}")
        nodes, seq = explain(found["one"])
        print("      plans:")
        for line in nodes:
            print(f"        {line}")
        print(f"      Seq Scans on tables of > {BIG_TABLE:,} rows: " + ("; ".join(seq) if seq else "none"))
        runs[f"seq {name.split()[1]}"] = Run("seq", requests=len(seq))
        if args.profile:
            profile(path, token)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per endpoint and scale")
    parser.add_argument("--connections", type=int, default=4, help="concurrent keep-alive connections")
    parser.add_argument("--small-only", action="store_true", help="only the 1k-patient scale")
    parser.add_argument("--rebuild", action="store_true", help="drop the bench databases and generate the data anew")
    parser.add_argument("--profile", action="store_true", help="cProfile 200 in-process FHIR requests per scale")
    args = parser.parse_args()

    scales = SCALES[:1] if args.small_only else SCALES
    urls = {label: scale_url(label) for label, _ in scales}
    if args.rebuild:
        for url in urls.values():
            drop_database(url)
    os.environ["DATABASE_URL"] = urls[scales[0][0]]
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.fhir_settings"  # the floor's routes, in process too
    setup_django()
    print(
        f"FHIR R4 read API, Observation: the served stack (HAProxy front, gunicorn) on 127.0.0.1; "
        f"{args.connections} keep-alive connections, closed loop, {args.duration:g} s per endpoint; "
        f"random patients and observations; {os.cpu_count()} cores, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    results: dict[str, dict[str, Run]] = {}
    for i, (label, patients) in enumerate(scales):
        if i:
            use_database(urls[label])
        results[label] = measure_scale(label, patients, urls[label], args)

    print("\ntargets:")
    for label, runs in results.items():
        for kind in ("search", "read"):
            fhir, floor = runs.get(f"FHIR {kind}"), runs.get(f"floor {kind}")
            if fhir is None or floor is None:
                print(f"  {label}: FHIR {kind} ≥ 0.5x the floor: FHIR API not available")
                continue
            ratio = fhir.rate / floor.rate if floor.rate else 0.0
            ok = ratio >= 0.5 and not fhir.failures
            print(
                f"  {label}: FHIR {kind} ≥ 0.5x the floor's requests/s: {ratio:.2f}x"
                f"{'' if not fhir.failures else f' ({sum(fhir.failures.values())} failures)'}  "
                f"{'met' if ok else 'MISSED'}"
            )
        if "seq search" in runs:
            n = runs["seq search"].requests
            print(f"  {label}: no Seq Scan on a big table in the search's plans: {'met' if not n else f'MISSED ({n})'}")
    if len(results) == 2:
        small, large = results["1k"], results["100k"]
        floor_ratio = large["floor search"].p50 / small["floor search"].p50
        if "FHIR search" in small and "FHIR search" in large:
            ratio = large["FHIR search"].p50 / small["FHIR search"].p50
            print(
                f"  FHIR search p50 at 100k/2M ≤ 1.5x its p50 at 1k/20k: {large['FHIR search'].p50:.2f} / "
                f"{small['FHIR search'].p50:.2f} ms = {ratio:.2f}x  {'met' if ratio <= 1.5 else 'MISSED'}"
                f"  (floor search: {floor_ratio:.2f}x)"
            )
        else:
            print(f"  FHIR search p50 scaling: FHIR API not available (floor search: {floor_ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
