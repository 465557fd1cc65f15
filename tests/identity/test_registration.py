"""POST /api/patients: one patient per human per tenant, whoever writes and however often."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from clinic.models import OutboxEvent
from identity.contracts import NHS_NUMBER_SYSTEM
from identity.models import Patient, PatientIdentifier
from identity.services import ensure_identifier_systems
from tests.clinic.factories import TenantFactory, api_token
from tests.support.identity import NHS_NUMBERS, mrn_system, register

pytestmark = pytest.mark.django_db

ADA = {
    "identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}],
    "name": {"family": "Smith", "given": ["Ada"]},
    "birth_date": "1980-02-03",
    "gender": "female",
    "telecom": [{"system": "phone", "value": "+44 20 7946 0000"}],
}


@pytest.fixture
def tenant():
    return TenantFactory(slug="riverside")


@pytest.fixture
def api(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(tenant)}")
    return client


def fields(response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json().get("errors", [])}


def test_new_patient_is_201_with_a_minted_mrn_and_an_event(api, tenant):
    response = api.post("/api/patients", ADA, format="json")

    assert response.status_code == 201
    body = response.json()
    assert response["Location"] == f"/api/patients/{body['id']}"
    assert body["active"] is True
    assert body["links"] == []
    assert (body["name"], body["birth_date"], body["gender"]) == (
        {"family": "Smith", "given": ["Ada"], "use": "official"},
        "1980-02-03",
        "female",
    )
    systems = {i["system"]: i for i in body["identifiers"]}
    assert systems[NHS_NUMBER_SYSTEM] == {
        "system": NHS_NUMBER_SYSTEM,
        "value": "9434765919",
        "use": "official",
        "assigning_authority": "NHS",
    }
    mrn = systems[mrn_system(tenant)]
    assert (mrn["assigning_authority"], mrn["use"]) == ("RIVERSIDE", "official")
    assert mrn["value"].startswith("M")
    assert OutboxEvent.objects.filter(type="patient.registered", patient_id=body["id"]).count() == 1


def test_known_identifier_returns_the_existing_patient_with_200_and_writes_nothing(api):
    first = api.post("/api/patients", ADA, format="json").json()
    rows = (Patient.objects.count(), PatientIdentifier.objects.count(), OutboxEvent.objects.count())

    again = api.post(
        "/api/patients",
        {
            **ADA,
            "name": {"family": "Smith-Jones", "given": ["Ada"]},
            "identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": "943 476 5919"}],
        },
        format="json",
    )

    assert again.status_code == 200
    assert again.json() == first
    assert (Patient.objects.count(), PatientIdentifier.objects.count(), OutboxEvent.objects.count()) == rows


def test_identifiers_of_two_different_patients_are_a_409_naming_both(api, tenant):
    ada = register(tenant, nhs=NHS_NUMBERS[0])
    bob = register(tenant, mrn="RIV-42", family="Jones", given=("Bob",))

    response = api.post(
        "/api/patients",
        {
            **ADA,
            "identifiers": [
                {"system": NHS_NUMBER_SYSTEM, "value": NHS_NUMBERS[0]},
                {"system": mrn_system(tenant), "value": "RIV-42"},
            ],
        },
        format="json",
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "identifier-conflict"
    assert sorted(body["patients"]) == sorted([str(ada.id), str(bob.id)])
    assert Patient.objects.count() == 2


def test_demographic_match_without_identifier_is_a_409_with_candidates_unless_confirmed(api, tenant):
    existing = register(tenant, nhs=NHS_NUMBERS[0], family="O'Brien", given=("Siobhán",))
    newcomer = {"name": {"family": "OBRIEN", "given": ["Siobhan"]}, "birth_date": "1980-02-03", "gender": "female"}

    refused = api.post("/api/patients", newcomer, format="json")
    confirmed = api.post("/api/patients", {**newcomer, "confirm_new": True}, format="json")

    assert refused.status_code == 409
    candidate = refused.json()["candidates"][0]
    assert (candidate["patient"]["id"], candidate["grade"], candidate["rule"]) == (
        str(existing.id),
        "probable",
        "family+given+birth_date",
    )
    assert confirmed.status_code == 201
    assert Patient.objects.count() == 2


def test_idempotency_key_makes_a_registration_without_identifiers_safe_to_retry(api):
    body = {"name": {"family": "Doe", "given": ["Jane"]}, "gender": "unknown"}

    first = api.post("/api/patients", body, format="json", HTTP_IDEMPOTENCY_KEY="reg-123")
    retry = api.post("/api/patients", body, format="json", HTTP_IDEMPOTENCY_KEY="reg-123")
    other = api.post("/api/patients", {**body, "gender": "female"}, format="json", HTTP_IDEMPOTENCY_KEY="reg-123")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["id"] == first.json()["id"]
    assert Patient.objects.count() == 1
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency-key-reused"


def test_fifty_concurrent_identical_registrations_make_one_patient(transactional_db, tenant):
    token = api_token(tenant, name="rush")
    ensure_identifier_systems(tenant_id=tenant.pk)  # else seeding them serialises the requests
    barrier = threading.Barrier(50)
    results: list[tuple[int, str]] = []

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            response = client.post("/api/patients", ADA, format="json")
            results.append((response.status_code, response.json().get("id") or str(response.json())))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Patient.objects.count() == 1
    patient_id = str(Patient.objects.get().pk)
    assert len(results) == 50
    assert {pid for _status, pid in results} == {patient_id}
    assert sorted(status for status, _pid in results).count(201) == 1
    assert PatientIdentifier.objects.filter(value="9434765919").count() == 1
    assert OutboxEvent.objects.filter(type="patient.registered").count() == 1


def test_same_mrn_in_two_tenants_gives_two_patients(tenant):
    other = TenantFactory(slug="hillside")

    ours = register(tenant, mrn="A-1")
    theirs = register(other, mrn="A-1")

    assert ours.id != theirs.id
    assert Patient.objects.filter(tenant=tenant).count() == 1
    assert Patient.objects.filter(tenant=other).count() == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"identifiers": [{"system": "urn:unknown", "value": "1"}]},
            "identifiers[0].system",
            "unknown identifier system 'urn:unknown'",
        ),
        (
            {"identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": "9434765918"}]},
            "identifiers[0].value",
            "is not a valid NHS number",
        ),
        ({"identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": "  "}]}, "identifiers[0].value", "must not be blank"),
        ({"birth_date": "2999-01-01"}, "birth_date", "is in the future"),
        ({"birth_date": "03/02/1980"}, "birth_date", "Date has wrong format"),
        ({"name": {"family": "", "given": ["Ada"]}}, "name.family", "a family name is required"),
        ({"name": None}, "name", "This field may not be null."),
        ({"gender": "f"}, "gender", '"f" is not a valid choice.'),
        (
            {"identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": 9434765919}]},
            "identifiers[0].value",
            "Must be a string.",
        ),
        (
            {"identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": "9434765919", "use": "old"}]},
            "identifiers[0].use",
            '"old" is not a valid choice.',
        ),
        ({"telecom": [{"system": "pigeon", "value": "x"}]}, "telecom[0].system", '"pigeon" is not a valid choice.'),
        ({"nickname": "Addy"}, "nickname", "Unknown field."),
    ],
)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(api, change, field, message):
    response = api.post("/api/patients", {**ADA, **change}, format="json")

    assert response.status_code == 422, response.json()
    assert fields(response)[field].startswith(message)
    assert Patient.objects.count() == 0


def test_missing_name_is_422(api):
    body = {k: v for k, v in ADA.items() if k != "name"}

    response = api.post("/api/patients", body, format="json")

    assert response.status_code == 422
    assert fields(response) == {"name": "This field is required."}


def test_mrn_of_the_wrong_format_is_422(api, tenant):
    response = api.post(
        "/api/patients", {**ADA, "identifiers": [{"system": mrn_system(tenant), "value": "has spaces!"}]}, format="json"
    )

    assert response.status_code == 422
    assert "does not match the format of Medical record number" in fields(response)["identifiers[0].value"]


def test_identifier_systems_of_the_tenant_are_listed(api, tenant):
    response = api.get("/api/identifier-systems")

    systems = {s["uri"]: s for s in response.json()["results"]}
    assert set(systems) == {mrn_system(tenant), NHS_NUMBER_SYSTEM}
    assert systems[mrn_system(tenant)]["mints"] is True
    assert systems[NHS_NUMBER_SYSTEM]["validator"] == "nhs-number"


def test_concurrent_registrations_of_the_same_details_without_identifiers_make_one_patient(transactional_db, tenant):
    token = api_token(tenant, name="double-click")
    ensure_identifier_systems(tenant_id=tenant.pk)  # else seeding them serialises the requests
    body = {"name": {"family": "Doe", "given": ["Jane"]}, "birth_date": "1990-05-05", "gender": "female"}
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            statuses.append(client.post("/api/patients", body, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [409] * 9
    assert Patient.objects.count() == 1


def test_identifiers_given_in_opposite_orders_concurrently_never_deadlock(transactional_db, tenant):
    token = api_token(tenant, name="orders")
    ensure_identifier_systems(tenant_id=tenant.pk)  # else seeding them serialises the requests
    failures: list[int] = []
    for round_, number in enumerate(NHS_NUMBERS):
        nhs = {"system": NHS_NUMBER_SYSTEM, "value": number}
        mrn = {"system": mrn_system(tenant), "value": f"R-{round_}"}
        # Different spellings: they do not take turns on the demographics lock.
        bodies = [
            {**ADA, "identifiers": [nhs, mrn]},
            {**ADA, "name": {"family": "Smyth", "given": ["Ada"]}, "identifiers": [mrn, nhs]},
        ]
        barrier = threading.Barrier(2)

        def post(body, barrier=barrier) -> None:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait()
            try:
                status = client.post("/api/patients", {**body, "confirm_new": True}, format="json").status_code
                if status not in (200, 201):
                    failures.append(status)
            finally:
                connection.close()

        threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert failures == []
    assert Patient.objects.count() == len(NHS_NUMBERS)


@pytest.mark.parametrize("name", [{"family": "ß" * 60, "given": ["Ada"]}, {"family": "Smith", "given": ["ﬃ" * 40]}])
def test_names_that_grow_when_normalised_are_accepted(api, name):
    response = api.post("/api/patients", {**ADA, "name": name}, format="json")

    assert response.status_code == 201


def test_a_phone_value_that_is_not_a_phone_number_is_stored_but_not_matched_on(api):
    response = api.post("/api/patients", {**ADA, "telecom": [{"system": "phone", "value": "1" * 60}]}, format="json")

    assert response.status_code == 201
    assert Patient.objects.get().phone_keys == []
