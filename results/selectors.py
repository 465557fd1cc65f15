"""Reads of results."""

from __future__ import annotations

from results.contracts import HeldResultRecord, HoldReason
from results.models import HeldResult


def held_results(*, tenant_id: int, sources: list[str]) -> list[HeldResultRecord]:
    rows = HeldResult.objects.filter(tenant_id=tenant_id, source__in=sources).order_by("created_at")
    return [
        HeldResultRecord(
            id=row.pk,
            tenant_id=row.tenant_id,
            source=row.source,
            reason=HoldReason(row.reason),
            detail=row.detail,
            status=row.status,
            placer_numbers=tuple(row.placer_numbers),
            accessions=tuple(row.accessions),
            created_at=row.created_at,
            released_at=row.released_at,
        )
        for row in rows
    ]
