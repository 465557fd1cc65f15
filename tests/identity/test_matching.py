"""POST /api/patients/match: deterministic, explainable candidates."""

from __future__ import annotations

import datetime
from typing import Any

import factory
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from clinic import services as kernel
from identity.contracts import NHS_NUMBER_SYSTEM, Demographics, Gender, HumanName
from identity.facade import match_patients
from tests.clinic.factories import TenantFactory, api_token
from tests.identity.factories import PatientFactory
from tests.support.identity import NHS_NUMBERS, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    return TenantFactory()


@pytest.fixture
def api(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(tenant, scopes=['api:read'])}")
    return client


def best(api, body) -> dict[str, Any]:
    response = api.post("/api/patients/match", body, format="json")
    assert response.status_code == 200, response.json()
    candidates = response.json()["candidates"]
    return candidates[0] if candidates else {}


def test_identifier_is_certain(api, tenant):
    ada = register(tenant, nhs=NHS_NUMBERS[0])

    match = best(api, {"identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": "943 476 5919"}]})

    assert (match["patient"]["id"], match["grade"], match["score"], match["rule"]) == (
        str(ada.id),
        "certain",
        1.0,
        "identifier",
    )


@pytest.mark.parametrize(
    ("body", "grade", "rule"),
    [
        (
            {"name": {"family": "SMITH", "given": ["ada"]}, "birth_date": "1980-02-03"},
            "probable",
            "family+given+birth_date",
        ),
        (
            {
                "name": {"family": "Smith", "given": ["Ada"]},
                "birth_date": "1980-02-03",
                "telecom": [{"system": "phone", "value": "020 7946 0000"}],
            },
            "certain",
            "family+given+birth_date+phone",
        ),
        (
            {
                "name": {"family": "Other", "given": ["X"]},
                "birth_date": "1980-02-03",
                "telecom": [{"system": "phone", "value": "+44 20 7946 0000"}],
            },
            "probable",
            "phone+birth_date",
        ),
        (
            {"name": {"family": "Smyth", "given": ["Ada"]}, "birth_date": "1980-02-03", "gender": "female"},
            "probable",
            "family~1+birth_date+gender",
        ),
        (
            {"name": {"family": "Smith", "given": ["Ada"]}, "birth_date": "1980-03-02"},
            "possible",
            "family+given+birth_year",
        ),
        ({"name": {"family": "Smith", "given": ["Eve"]}, "birth_date": "1980-02-03"}, "possible", "family+birth_date"),
        (
            {"name": {"family": "Jones", "given": ["Ada"]}, "birth_date": "1980-02-03", "gender": "female"},
            "possible",
            "given+birth_date+gender",
        ),
    ],
)
def test_demographic_rules(api, tenant, body, grade, rule):
    ada = register(tenant, family="Smith", given=("Ada",), phone="+44 20 7946 0000")

    match = best(api, body)

    assert (match["patient"]["id"], match["grade"], match["rule"]) == (str(ada.id), grade, rule)


def test_no_candidate_below_the_possible_threshold(api, tenant):
    register(tenant, family="Smith", given=("Ada",))

    assert (
        best(api, {"name": {"family": "Jones", "given": ["Bob"]}, "birth_date": "1980-02-03", "gender": "male"}) == {}
    )


def test_grades_follow_the_tenants_thresholds(tenant):
    register(tenant, family="Smith", given=("Ada",))
    kernel.set_policy_overrides(tenant_id=tenant.pk, overrides={"matching": {"probable": 0.95, "certain": 0.99}})

    [match] = match_patients(
        tenant_id=tenant.pk,
        demographics=Demographics(name=HumanName(family="Smith", given=("Ada",)), birth_date=datetime.date(1980, 2, 3)),
    )

    assert (match.grade, match.score) == ("possible", 0.9)


def test_merged_and_other_tenants_patients_are_not_candidates(api, tenant):
    register(TenantFactory(), family="Smith", given=("Ada",))
    merged_away = register(tenant, family="Smith", given=("Ada",), mrn="OLD-1")
    survivor = register(tenant, family="Jones", given=("Bob",), birth_date=None, mrn="NEW-1")
    from django.db import transaction

    from identity.facade import merge_patients

    with transaction.atomic():
        merge_patients(tenant_id=tenant.pk, source_id=merged_away.id, target_id=survivor.id, reason="dup", actor="t")

    assert best(api, {"name": {"family": "Smith", "given": ["Ada"]}, "birth_date": "1980-02-03"}) == {}


def test_match_writes_nothing_and_needs_only_read_scope(api, tenant):
    from clinic.models import OutboxEvent
    from identity.models import Patient

    register(tenant, family="Smith", given=("Ada",))
    before = (Patient.objects.count(), OutboxEvent.objects.count())

    response = api.post(
        "/api/patients/match",
        {"name": {"family": "Smith", "given": ["Ada"]}, "birth_date": "1980-02-03"},
        format="json",
    )

    assert response.status_code == 200  # with a read-only token
    assert len(response.json()["candidates"]) == 1
    assert (Patient.objects.count(), OutboxEvent.objects.count()) == before


def test_candidates_come_from_indexed_blocks_not_a_table_scan(tenant):
    import random

    rng = random.Random(7)
    PatientFactory.create_batch(
        3000,
        tenant=tenant,
        family=factory.Sequence(lambda i: f"F{i % 700}"),
        given=factory.Sequence(lambda i: [f"G{i % 50}"]),
        birth_date=factory.LazyFunction(
            lambda: datetime.date(1930, 1, 1) + datetime.timedelta(days=rng.randrange(30000))
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE identity_patient")
    with CaptureQueriesContext(connection) as queries:
        match_patients(
            tenant_id=tenant.pk,
            demographics=Demographics(
                name=HumanName(family="F1", given=("G1",)), birth_date=datetime.date(1980, 2, 3), gender=Gender.FEMALE
            ),
        )
    block = next(q["sql"] for q in queries.captured_queries if "LIMIT 500" in q["sql"])

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + block)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "patient_block_birth_date" in plan, plan
    assert "patient_block_family" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_a_crowded_birth_date_does_not_hide_the_patient_with_the_same_name(tenant):
    placeholder = datetime.date(1950, 1, 1)
    PatientFactory.create_batch(600, tenant=tenant, given=["X"], birth_date=placeholder)
    wanted = register(tenant, family="Smith", given=("Ada",), birth_date=placeholder)

    matches = match_patients(
        tenant_id=tenant.pk,
        demographics=Demographics(name=HumanName(family="Smith", given=("Ada",)), birth_date=placeholder),
    )

    assert matches[0].patient.id == wanted.id
    assert matches[0].rule == "family+given+birth_date"
