"""JSON shapes of identity's records, shared by the REST API and problem documents (a conflict
names the patients it found in the same shape the API returns them)."""

from __future__ import annotations

from typing import Any

from identity.contracts import HumanName, MatchCandidate, PatientRecord


def name_json(name: HumanName) -> dict[str, Any]:
    return {"family": name.family, "given": list(name.given), "use": name.use}


def patient_json(record: PatientRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "active": record.active,
        "identifiers": [
            {"system": i.system, "value": i.value, "use": i.use.value, "assigning_authority": i.assigning_authority}
            for i in record.identifiers
        ],
        "name": name_json(record.name),
        "other_names": [name_json(n) for n in record.other_names],
        "birth_date": record.birth_date.isoformat() if record.birth_date else None,
        "gender": record.gender.value,
        "telecom": [{"system": t.system, "value": t.value, "use": t.use} for t in record.telecom],
        "address": list(record.address),
        "links": [{"type": link.type, "other": str(link.other)} for link in record.links],
        "version": record.version,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def candidate_json(candidate: MatchCandidate) -> dict[str, Any]:
    return {
        "patient": patient_json(candidate.patient),
        "grade": candidate.grade.value,
        "score": candidate.score,
        "rule": candidate.rule,
    }
