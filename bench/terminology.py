"""Benchmark of translate-as-of-date with 100k map entries, each figure next to a floor.

- cold: every call a code not yet cached (one indexed query each); floor: the raw SQL SELECT of
  the entry by its indexed key through psycopg, same connection, same codes.
- warm: the same codes again, from the in-process cache; floor: a bare dict lookup.

Target (issue 4): a warm translate well under 0.1 ms.
Usage: make bench-terminology   (python bench/terminology.py --entries 100000 --calls 5000)
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct, psycopg_url, setup_django

SOURCE = "urn:bench:lab-codes"
TARGET = "http://loinc.org"


def map_file(entries: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["source_system", "source_code", "source_display", "target_system", "target_code", "target_display",
         "equivalence", "valid_from", "valid_to", "comment"]
    )  # fmt: skip
    for i in range(entries):
        # a third of the codes changed target on 2024-01-01: two entries with adjacent validity
        if i % 3 == 0:
            writer.writerow([SOURCE, f"C{i}", "", TARGET, f"{i}-1", "", "equivalent", "2000-01-01", "2024-01-01", ""])
            writer.writerow([SOURCE, f"C{i}", "", TARGET, f"{i}-2", "", "equivalent", "2024-01-01", "", ""])
        else:
            writer.writerow([SOURCE, f"C{i}", "", TARGET, f"{i}-0", "", "equivalent", "", "", ""])
    return out.getvalue().encode()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000, help="distinct source codes (≈1.33 entries each)")
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    url = setup_django()

    import psycopg

    from clinic.models import Tenant
    from terminology import engine, services
    from terminology.facade import translate
    from terminology.models import ConceptMapEntry

    tenant, _ = Tenant.objects.get_or_create(slug="bench-terminology", defaults={"name": "Bench"})
    services.ensure_code_system(uri=SOURCE, name="Bench lab codes")
    started = time.perf_counter()
    result = services.load_concept_map(
        data=map_file(args.entries), map_name="bench-100k", version=f"e{args.entries}", tenant_id=None
    )
    load_seconds = time.perf_counter() - started
    total = ConceptMapEntry.objects.filter(
        version__concept_map__name="bench-100k", version__label=f"e{args.entries}"
    ).count()
    how = f"loaded in {load_seconds:.1f} s" if result.created else "already loaded"
    print(f"map: {total:,} entries ({how})")

    rng = random.Random(4)
    codes = [f"C{rng.randrange(args.entries)}" for _ in range(args.calls)]
    dates = [datetime.date(2023, 6, 1) if i % 2 else datetime.date(2025, 6, 1) for i in range(args.calls)]

    # cold: nothing cached
    engine.invalidate()
    cold = []
    for code, on in zip(codes, dates, strict=True):
        t0 = time.perf_counter()
        found = translate(tenant_id=tenant.pk, system=SOURCE, code=code, target_system=TARGET, as_of=on)
        cold.append((time.perf_counter() - t0) * 1e6)
        assert found is not None
    floor_cold = []
    with psycopg.connect(psycopg_url(url)) as conn:
        for code, on in zip(codes, dates, strict=True):
            t0 = time.perf_counter()
            conn.execute(
                "SELECT e.target_code FROM terminology_conceptmapentry e "
                "WHERE e.source_system = %s AND e.source_code = %s AND e.target_system = %s "
                "AND e.valid_from <= %s AND (e.valid_to IS NULL OR %s < e.valid_to)",
                [SOURCE, code, TARGET, on, on],
            ).fetchall()
            floor_cold.append((time.perf_counter() - t0) * 1e6)

    # warm: the same calls again, many times
    rounds = 20
    warm_started = time.perf_counter()
    for _ in range(rounds):
        for code, on in zip(codes, dates, strict=True):
            translate(tenant_id=tenant.pk, system=SOURCE, code=code, target_system=TARGET, as_of=on)
    warm_us = (time.perf_counter() - warm_started) / (rounds * len(codes)) * 1e6
    table = {(c, d): c for c, d in zip(codes, dates, strict=True)}
    floor_started = time.perf_counter()
    for _ in range(rounds):
        for code, on in zip(codes, dates, strict=True):
            table.get((code, on))
    floor_warm_us = (time.perf_counter() - floor_started) / (rounds * len(codes)) * 1e6

    for label, values in (
        (f"cold translate ({args.calls:,} uncached codes)", cold),
        ("  floor (raw SQL SELECT)", floor_cold),
    ):
        print(
            f"{label:42} p50 {statistics.median(values):5.0f} µs  p99 {pct(values, 99):5.0f} µs"
            f"  → {1e6 / statistics.mean(values):,.0f}/s"
        )
    print(f"warm translate: {warm_us:.2f} µs per call → {1e6 / warm_us:,.0f}/s   (target: well under 100 µs)")
    print(f"  floor (bare dict lookup):  {floor_warm_us:.3f} µs per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
