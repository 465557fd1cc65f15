"""GET /api/patients and /api/patients/{id}."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from identity import facade
from identity.contracts import NHS_NUMBER_SYSTEM
from tests.clinic.factories import TenantFactory, api_token
from tests.identity.factories import PatientFactory, PatientIdentifierFactory
from tests.support.identity import NHS_NUMBERS, mrn_system, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    return TenantFactory()


@pytest.fixture
def api(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(tenant, scopes=['api:read'])}")
    return client


def test_read_a_patient(api, tenant):
    ada = register(tenant, nhs=NHS_NUMBERS[0])

    body = api.get(f"/api/patients/{ada.id}").json()

    assert body["id"] == str(ada.id)
    assert {i["system"] for i in body["identifiers"]} == {NHS_NUMBER_SYSTEM, mrn_system(tenant)}


def test_another_tenants_patient_is_404_like_a_missing_one(api):
    theirs = PatientFactory()

    foreign = api.get(f"/api/patients/{theirs.id}")
    missing = api.get(f"/api/patients/{uuid.uuid4()}")

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"] == missing.json()["detail"] == "No such patient."


def test_search_by_identifier(api, tenant):
    ada = register(tenant, nhs=NHS_NUMBERS[0])
    register(tenant, nhs=NHS_NUMBERS[1], family="Jones")

    found = api.get("/api/patients", {"identifier": f"{NHS_NUMBER_SYSTEM}|{NHS_NUMBERS[0]}"}).json()
    none = api.get("/api/patients", {"identifier": f"{NHS_NUMBER_SYSTEM}|{NHS_NUMBERS[2]}"}).json()

    assert [p["id"] for p in found["results"]] == [str(ada.id)]
    assert none["results"] == []


def test_identifier_search_is_tenant_scoped(api, tenant):
    register(TenantFactory(), nhs=NHS_NUMBERS[0])

    assert api.get("/api/patients", {"identifier": f"{NHS_NUMBER_SYSTEM}|{NHS_NUMBERS[0]}"}).json()["results"] == []


def test_search_by_family_and_birth_date_normalises_the_name(api, tenant):
    wanted = register(tenant, family="O'Brien", given=("Siobhán",))
    register(tenant, family="O'Brien", given=("Sean",), birth_date=None)
    register(tenant, family="Brien", given=("Ann",))

    found = api.get("/api/patients", {"family": "obrien", "birth_date": "1980-02-03"}).json()

    assert [p["id"] for p in found["results"]] == [str(wanted.id)]


def test_results_are_paginated_with_a_next_link(api, tenant):
    PatientFactory.create_batch(3, tenant=tenant, family="Smith")

    first = api.get("/api/patients", {"family": "smith", "page_size": 2}).json()
    second = api.get(first["next"]).json()

    assert len(first["results"]) == 2
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert {p["id"] for p in first["results"]}.isdisjoint({p["id"] for p in second["results"]})


@pytest.mark.parametrize("query", [{"identifier": "no-bar"}, {"birth_date": "yesterday"}])
def test_bad_search_parameters_are_400(api, query):
    response = api.get("/api/patients", query)

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == set(query)


def test_a_patient_is_found_by_the_hl7_v2_identifiers_of_any_system_the_tenant_knows(tenant):
    held = PatientIdentifierFactory(patient__tenant=tenant, system__assigning_authority="ACMELAB", value="L-1")
    PatientIdentifierFactory(system__assigning_authority="ACMELAB", value="L-2")  # another tenant's

    found = facade.patients_by_v2_identifiers(
        tenant_id=tenant.pk, identifiers=[("ACMELAB", "L-1"), ("ACMELAB", "L-2"), ("UNKNOWN", "L-1")]
    )

    assert found == {("ACMELAB", "L-1"): held.patient_id}
