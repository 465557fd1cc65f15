"""What the lab said, as received: the content whose SHA-256 tells a redelivery (the same) from
a new version (different). Set IDs and the order of segments are left out: senders renumber
them."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from results.contracts import ObservationInput, ReportInput


def sha(content: dict[str, Any]) -> str:
    """SHA-256 of ``content`` as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def observation_as_received(obs: ObservationInput) -> dict[str, Any]:
    """What the lab said about one result (one OBX and its notes)."""
    content = {
        "code": [obs.code.v2_system, obs.code.code, obs.code.display],
        "sub_id": obs.sub_id,
        "type": obs.value_type,
        "text": obs.text,
        "numeric": str(obs.numeric) if obs.numeric is not None else None,
        "comparator": obs.comparator,
        "high": str(obs.numeric_high) if obs.numeric_high is not None else None,
        "separator": obs.sn_separator,
        "coded": [obs.coded.v2_system, obs.coded.code, obs.coded.display] if obs.coded else None,
        "unit": [obs.unit.v2_system, obs.unit.code, obs.unit.display] if obs.unit else None,
        "range": obs.reference_range,
        "flags": list(obs.abnormal_flags),
        "status": obs.status,
        "observed_at": iso(obs.observed_at),
        "analysed_at": iso(obs.analysed_at),
        "comments": list(obs.comments),
    }
    if obs.performer is not None:  # only when sent: results charted before it was read keep their digest
        p = obs.performer
        content["performer"] = [p.name, p.identifier, p.authority, p.authority_oid, p.address]
    return content


def report_as_received(report: ReportInput) -> dict[str, Any]:
    """What the lab said about one report (the OBR, its specimen and notes; not its results)."""
    spec = report.specimen
    return {
        "code": [report.code.v2_system, report.code.code, report.code.display],
        "status": report.status,
        "observed_at": iso(report.observed_at),
        "reported_at": iso(report.reported_at),
        "specimen": [
            spec.specimen_id,
            [spec.type.code, spec.type.display] if spec.type else None,
            iso(spec.collected_at),
            iso(spec.received_at),
        ]
        if spec
        else None,
        "comments": list(report.comments),
    }
