"""Rows charted before, found by business key: the same content (nothing to do), a later
version (update the row, keep its prior version as a ``ResultRevision``), or an older one
(recorded as stale, not applied: a preliminary after the final must not undo it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from results.charting.work import ReceivedObservation, ReportWork
from results.models import DiagnosticReport, Observation, ResultRevision
from results.sql import OBSERVATION_CONTENT_COLUMNS, REPORT_CONTENT_COLUMNS

# How far along a result is. A version ranked below the charted one arrived late: recorded, not
# applied (a preliminary after the final must not undo it; a final resent after a correction
# must not undo the correction).
STATUS_RANK = {
    "registered": 0,
    "unknown": 1,
    "preliminary": 1,
    "partial": 1,
    "final": 2,
    "cancelled": 2,
    # Marked in error: a re-issued final (sent later) or a correction applies over it.
    "entered-in-error": 2,
    "amended": 3,
    "corrected": 3,
    "appended": 3,
}


def is_older(status: str, sent_at: datetime | None, charted_status: str, charted_sent_at: datetime | None) -> bool:
    """Is a received version older than the charted one? A lower status is (a preliminary after
    the final); at the same status, a message sent earlier (MSH-7) is (a final resent late)."""
    rank, charted_rank = STATUS_RANK.get(status, 1), STATUS_RANK.get(charted_status, 1)
    if rank != charted_rank:
        return rank < charted_rank
    return sent_at is not None and charted_sent_at is not None and sent_at < charted_sent_at


def snapshot(row: models.Model, names: Iterable[str]) -> dict[str, Any]:
    """The content of a version of ``row`` (and its version number), as JSON."""
    out = {}
    for name in [*names, "version"]:
        value = getattr(row, name)
        if isinstance(value, Decimal):
            value = format(value.normalize(), "f")  # 13.40000000 from the column reads 13.4
        out[name] = str(value) if isinstance(value, UUID | datetime) else value
    return out


def _any(conditions: Iterable[Q]) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined


# --- Reports ------------------------------------------------------------------------------------


def take_charted_reports(tenant_id: int, sending_facility: str, work: list[ReportWork]) -> None:
    """The reports of ``work`` were charted before: lock the charted rows and put them in their
    work in place of the received ones (kept as ``incoming``)."""
    found = {
        (r.placer_number, r.filler_number, r.accession, r.code_key): r
        for r in DiagnosticReport.objects.select_for_update().filter(
            Q(tenant_id=tenant_id, sending_facility=sending_facility),
            _any(
                Q(placer_number=w.row.placer_number, filler_number=w.row.filler_number, accession=w.row.accession)
                & Q(code_key=w.row.code_key)
                for w in work
            ),
        )
    }
    for w in work:
        w.new = False
        incoming = w.row
        w.row = found[(incoming.placer_number, incoming.filler_number, incoming.accession, incoming.code_key)]
        w.report_changed = w.row.content_sha256 != incoming.content_sha256
        w.incoming = incoming


def match_renumbered_reports(tenant_id: int, sending_facility: str, work: list[ReportWork]) -> None:
    """One result, one report, whether or not the lab quoted our placer number. A lab sends a
    result first without it (an unsolicited result, charted without its order) and later with
    it, or the other way round; its filler number, accession and OBR-4 are the lab's own key
    for the result. So, before the insert: a report received without a placer number takes
    the placer number of the one report of that key charted with one; a report received with
    one, whose key was charted without a placer number, renumbers that report (and its
    observations) and updates it as a new version, on the order and encounter found now."""
    keyed = [w for w in work if w.row.filler_number]
    if not keyed:
        return
    charted: dict[tuple[str, str, str], list[DiagnosticReport]] = {}
    for row in (
        DiagnosticReport.objects.select_for_update()
        .filter(
            Q(tenant_id=tenant_id, sending_facility=sending_facility),
            _any(
                Q(filler_number=w.row.filler_number, accession=w.row.accession, code_key=w.row.code_key) for w in keyed
            ),
        )
        .order_by("id")  # one lock order for every delivery
    ):
        charted.setdefault((row.filler_number, row.accession, row.code_key), []).append(row)
    for w in keyed:
        rows = charted.get((w.row.filler_number, w.row.accession, w.row.code_key), [])
        placers = {r.placer_number for r in rows}
        if not rows or w.row.placer_number in placers:
            continue  # new, or charted under this very key: the insert and the version rules decide
        if not w.row.placer_number:
            if len(placers) == 1:
                w.row.placer_number = placers.pop()
        elif placers == {""}:
            _renumber(rows[0], w)


def _renumber(row: DiagnosticReport, w: ReportWork) -> None:
    """Give a report charted without a placer number the one ``w`` brings; its observations
    follow it (and its encounter when they had none)."""
    now = timezone.now()
    DiagnosticReport.objects.filter(pk=row.pk).update(placer_number=w.row.placer_number, updated_at=now)
    observations = Observation.objects.filter(report_id=row.pk)
    observations.update(placer_number=w.row.placer_number, version=F("version") + 1, updated_at=now)
    if w.target.encounter_id is not None:
        observations.filter(encounter_id__isnull=True).update(encounter_id=w.target.encounter_id)
    w.renumbered = True


def settle_report(tenant_id: int, source: str, w: ReportWork) -> None:
    """Once its observations are charted: did the report change (new, renumbered, a result
    created or updated, or its own content updated)? Update a report charted before when it
    did, keeping its prior version."""
    changed = w.new or w.renumbered or w.created + w.updated > 0
    incoming = w.incoming
    if incoming is not None:
        # An older report status changes the report only with newer results under it.
        changed_report = w.report_changed and (
            not is_older(incoming.status, incoming.sent_at, w.row.status, w.row.sent_at) or changed
        )
        if changed_report or changed:
            _update_report(tenant_id, w.row, incoming, source)
        w.corrected = w.corrected or incoming.v2_status == "C"
        changed = changed or changed_report
    w.changed = changed


def _update_report(tenant_id: int, row: DiagnosticReport, incoming: DiagnosticReport, source: str) -> None:
    ResultRevision.objects.create(
        tenant_id=tenant_id,
        kind=ResultRevision.Kind.REPORT,
        object_id=row.id,
        version=row.version,
        status=row.status,
        outcome=ResultRevision.Outcome.SUPERSEDED,
        content=snapshot(row, REPORT_CONTENT_COLUMNS),
        source=row.source,
    )
    stale = is_older(incoming.status, incoming.sent_at, row.status, row.sent_at)
    for name in REPORT_CONTENT_COLUMNS:
        if stale and name in ("status", "v2_status"):
            continue  # newer results under an older report status: keep the later status
        setattr(row, name, getattr(incoming, name))
    row.version += 1
    row.source = source
    row.save()


# --- Observations -------------------------------------------------------------------------------


def apply_to_charted_observations(tenant_id: int, source: str, conflicts: list[ReceivedObservation]) -> None:
    """Observations charted before: the same (nothing to do), a later version (update, keep the
    prior), or an older one (record it, change nothing)."""
    current = _lock_charted_observations(tenant_id, conflicts)
    recorded_stale = _stale_versions_recorded(current.values())
    revisions: list[ResultRevision] = []
    for w, _obs, incoming in conflicts:
        row = current[(incoming.report_id, incoming.code_key, incoming.sub_id)]
        w.observation_ids.append(row.id)
        w.observations.append(row)
        if row.content_sha256 == incoming.content_sha256:
            w.unchanged += 1
        elif is_older(incoming.status, incoming.sent_at, row.status, row.sent_at):
            w.stale += 1
            if (row.id, incoming.content_sha256) not in recorded_stale:
                revisions.append(_revision(tenant_id, row, incoming, ResultRevision.Outcome.STALE, source))
        else:
            revisions.append(_revision(tenant_id, row, row, ResultRevision.Outcome.SUPERSEDED, row.source))
            _update_observation(row, incoming)
            w.updated += 1
            w.corrected = w.corrected or incoming.v2_status == "C"
    ResultRevision.objects.bulk_create(revisions)


def _lock_charted_observations(
    tenant_id: int, conflicts: list[ReceivedObservation]
) -> dict[tuple[Any, str, str], Observation]:
    return {
        (o.report_id, o.code_key, o.sub_id): o
        for o in Observation.objects.select_for_update()
        .filter(
            Q(tenant_id=tenant_id),
            _any(Q(report_id=r.report_id, code_key=r.code_key, sub_id=r.sub_id) for _w, _o, r in conflicts),
        )
        .order_by("report_id", "code_key", "sub_id")  # one lock order for every delivery
    }


def _stale_versions_recorded(rows: Iterable[Observation]) -> set[tuple[UUID, str]]:
    """(observation ID, content SHA-256) of the late versions recorded before (one query for the
    message, not one per result)."""
    return set(
        ResultRevision.objects.filter(
            object_id__in=[o.id for o in rows], outcome=ResultRevision.Outcome.STALE
        ).values_list("object_id", "content__content_sha256")
    )


def _update_observation(row: Observation, incoming: Any) -> None:
    for name in OBSERVATION_CONTENT_COLUMNS:
        if name == "report_id":
            continue  # an observation stays on the report it was charted on
        setattr(row, name, getattr(incoming, name))
    row.version += 1
    row.save()


def _revision(tenant_id: int, row: Observation, version: Any, outcome: str, source: str) -> ResultRevision:
    """A version of observation ``row`` kept aside: its prior self (superseded) or a received
    version that was not applied (stale)."""
    return ResultRevision(
        tenant_id=tenant_id,
        kind=ResultRevision.Kind.OBSERVATION,
        object_id=row.id,
        version=row.version,
        status=version.status,
        outcome=outcome,
        content=snapshot(version, OBSERVATION_CONTENT_COLUMNS),
        source=source,
    )
