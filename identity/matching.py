"""Deterministic, explainable patient matching.

Candidates come from two blocks, both served by indexes (never a table scan): patients with the
same birth date, and patients with the same normalised family and first given name born the
same year. Each
candidate is scored by the best rule it meets; the grade comes from the tenant's thresholds
(policy section ``matching``).

| rule | score |
|---|---|
| identifier (any identifier in common) | 1.00 |
| family + given + birth date + phone | 0.97 |
| family + given + birth date | 0.90 |
| phone + birth date | 0.85 |
| family within one edit + birth date + gender | 0.80 |
| family + given + birth year (day or month differs) | 0.60 |
| family + birth date (given differs) | 0.60 |
| given + birth date + gender (family differs: a change of name) | 0.55 |

Names compare after normalisation (case, accents, punctuation, whitespace); phones by digits.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple
from uuid import UUID

from django.db.models import Q

from clinic.facade import effective_policy
from identity import selectors
from identity.contracts import Demographics, IdentifierInput, MatchCandidate, MatchGrade
from identity.identifiers import normalise_identifier_value
from identity.models import IdentifierSystem, Patient, PatientIdentifier
from identity.normalise import name_key, phone_key, within_one_edit

BLOCK_LIMIT = 500


class BlockRow(NamedTuple):
    """What scoring needs of a candidate (a tuple, not a model: matching is on the hot path)."""

    pk: UUID
    birth_date: date | None
    gender: str
    family_key: str
    given_key: str
    phone_keys: list[str]  # a block larger than this is not a useful match (and would be slow)


def thresholds(tenant_id: int) -> dict[str, float]:
    return dict(effective_policy(tenant_id=tenant_id).get("matching", {}))


def grade_for(score: float, limits: dict[str, float]) -> MatchGrade | None:
    if score >= limits.get("certain", 0.95):
        return MatchGrade.CERTAIN
    if score >= limits.get("probable", 0.8):
        return MatchGrade.PROBABLE
    if score >= limits.get("possible", 0.5):
        return MatchGrade.POSSIBLE
    return None


def _score(demographics: Demographics, patient: BlockRow) -> tuple[float, str]:
    name = demographics.name
    family = name_key(name.family) if name else ""
    given = name_key(name.given[0]) if name and name.given else ""
    phones = {phone_key(t.value) for t in demographics.telecom if t.system == "phone"} - {""}
    same_date = demographics.birth_date is not None and demographics.birth_date == patient.birth_date
    same_family = bool(family) and family == patient.family_key
    same_given = bool(given) and given == patient.given_key
    same_phone = bool(phones & set(patient.phone_keys))
    gender = demographics.gender.value if demographics.gender else None
    same_gender = gender is not None and gender != "unknown" and gender == patient.gender
    same_year = (
        demographics.birth_date is not None
        and patient.birth_date is not None
        and demographics.birth_date.year == patient.birth_date.year
    )
    rules = [
        (same_family and same_given and same_date and same_phone, 0.97, "family+given+birth_date+phone"),
        (same_family and same_given and same_date, 0.90, "family+given+birth_date"),
        (same_phone and same_date, 0.85, "phone+birth_date"),
        (
            bool(family) and within_one_edit(family, patient.family_key) and same_date and same_gender,
            0.80,
            "family~1+birth_date+gender",
        ),
        (same_family and same_given and same_year and not same_date, 0.60, "family+given+birth_year"),
        (same_family and same_date, 0.60, "family+birth_date"),
        (same_given and same_date and same_gender, 0.55, "given+birth_date+gender"),
    ]
    return next(((score, rule) for met, score, rule in rules if met), (0.0, ""))


def match(
    *,
    tenant_id: int,
    demographics: Demographics,
    identifiers: list[IdentifierInput],
    limit: int = 20,
) -> list[MatchCandidate]:
    """Active patients that may be this person, best first, each with grade, score and rule."""
    limits = thresholds(tenant_id)
    found: dict[UUID, tuple[float, str]] = {}

    if identifiers:
        systems = {s.uri: s for s in IdentifierSystem.objects.filter(tenant_id=tenant_id)}
        query = Q()
        for ident in identifiers:
            system = systems.get(ident.system)
            if system is not None:
                value, _error = normalise_identifier_value(system, ident.value)
                query |= Q(system_id=system.pk, value=value)
        if query:
            for holder in PatientIdentifier.objects.filter(query, tenant_id=tenant_id).values_list(
                "patient_id", flat=True
            ):
                found[selectors.survivor_id(tenant_id=tenant_id, patient_id=holder)] = (1.0, "identifier")

    name = demographics.name
    # Each block is limited on its own, so a crowded birth date (a placeholder like 1900-01-01)
    # cannot crowd out the patient with the same name.
    blocks = []
    columns = ("id", "birth_date", "gender", "family_key", "given_key", "phone_keys")
    active = Patient.objects.filter(tenant_id=tenant_id, active=True).order_by()
    if name is not None and name.family and name.given:
        same_name = Q(family_key=name_key(name.family), given_key=name_key(name.given[0]))
        if demographics.birth_date is not None:
            # Only the same-name rule that needs no exact date uses this block, and it needs the
            # same year: a range on the index keeps common names (Smith, Oliver) cheap.
            year = demographics.birth_date.year
            same_name &= Q(birth_date__gte=date(year, 1, 1), birth_date__lte=date(year, 12, 31))
        blocks.append(active.filter(same_name).values_list(*columns)[:BLOCK_LIMIT])
    if demographics.birth_date is not None:
        blocks.append(active.filter(birth_date=demographics.birth_date).values_list(*columns)[:BLOCK_LIMIT])
    if blocks:
        rows = blocks[0].union(*blocks[1:]) if len(blocks) > 1 else blocks[0]
        for patient in (BlockRow(*row) for row in rows):
            score, rule = _score(demographics, patient)
            if score and score > found.get(patient.pk, (0.0, ""))[0]:
                found[patient.pk] = (score, rule)

    graded = [(pid, score, rule, grade_for(score, limits)) for pid, (score, rule) in found.items()]
    graded = sorted((g for g in graded if g[3] is not None), key=lambda g: (-g[1], str(g[0])))[:limit]
    records = selectors.get_patients(tenant_id=tenant_id, patient_ids=[g[0] for g in graded])
    return [
        MatchCandidate(patient=records[pid], grade=grade, score=score, rule=rule)
        for pid, score, rule, grade in graded
        if grade is not None and pid in records
    ]
