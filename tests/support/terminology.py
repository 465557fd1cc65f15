"""Building concept maps in tests through the real loader (shared by every test folder)."""

from __future__ import annotations

import csv
import datetime
import io

from django.utils import timezone

from terminology import csvformat, services
from terminology.models import ConceptMapVersion

LAB = "urn:test:lab-codes"
LOINC = "http://loinc.org"
HEADER = csvformat.COLUMNS


def csv_bytes(*rows: dict[str, str], header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header or HEADER)
    for row in rows:
        writer.writerow([row.get(column, "") for column in (header or HEADER)])
    return out.getvalue().encode()


def entry(code: str, target: str, *, valid_from: str = "", valid_to: str = "", source: str = LAB) -> dict[str, str]:
    return {
        "source_system": source,
        "source_code": code,
        "target_system": LOINC,
        "target_code": target,
        "valid_from": valid_from,
        "valid_to": valid_to,
    }


def lab_system(tenant_id: int | None = None) -> None:
    services.ensure_code_system_in_transaction(uri=LAB, name="Test lab codes", tenant_id=tenant_id)


def load(
    *entries: dict[str, str],
    version: str,
    tenant_id: int | None = None,
    name: str = "lab-to-loinc",
    published_on: datetime.date | None = None,
) -> ConceptMapVersion:
    services.load_concept_map_in_transaction(
        data=csv_bytes(*entries), map_name=name, version=version, tenant_id=tenant_id
    )
    owner: dict[str, object] = (
        {"concept_map__tenant__isnull": True} if tenant_id is None else {"concept_map__tenant_id": tenant_id}
    )
    loaded = ConceptMapVersion.objects.get(concept_map__name=name, label=version, **owner)
    if published_on is not None:
        when = timezone.make_aware(datetime.datetime.combine(published_on, datetime.time(9, 0)))
        ConceptMapVersion.objects.filter(pk=loaded.pk).update(published_at=when)
        from terminology import engine

        engine.invalidate()
    return loaded
