"""Patient search and registration pages."""

from __future__ import annotations

import re

import pytest

from clinic.contracts import Role
from identity.models import Patient
from tests.clinic.factories import TenantFactory
from tests.web.helpers import member, signed_in

pytestmark = pytest.mark.django_db

VALID_NHS = "943 476 5919"


def _register(client, **fields):
    data = {
        "family": "Smith",
        "given": "Ada",
        "birth_date": "1980-02-03",
        "sex": "female",
        "nhs_number": "",
        "phone": "",
        "idempotency_key": "key-1",
        **fields,
    }
    return client.post("/patients/register", data)


@pytest.fixture
def desk():
    tenant = TenantFactory()
    return tenant, signed_in(member(tenant, Role.FRONT_DESK))


def test_front_desk_registers_a_patient_and_lands_on_their_record(desk):
    tenant, client = desk

    response = _register(client, nhs_number=VALID_NHS)

    patient = Patient.objects.get(tenant=tenant)
    assert response.headers["Location"] == f"/patients/{patient.pk}/?registered=1"
    page = client.get(response.headers["Location"]).content.decode()
    assert "SMITH, Ada" in page and "943 476 5919" in page and "Patient registered." in page
    assert re.search(r"M\d{9}", page)  # the MRN minted for them


def test_a_double_submitted_form_makes_one_patient(desk):
    tenant, client = desk

    first = _register(client, idempotency_key="same-key")
    second = _register(client, idempotency_key="same-key")

    assert Patient.objects.filter(tenant=tenant).count() == 1
    assert first.headers["Location"].split("?")[0] == second.headers["Location"].split("?")[0]


def test_field_errors_are_shown_at_the_field_in_words(desk):
    _tenant, client = desk

    response = _register(client, family="", birth_date="2999-01-01", sex="", nhs_number="943 476 5918")
    page = response.content.decode()

    assert response.status_code == 422
    assert "Enter a family name" in page
    assert "Date of birth must be in the past" in page
    assert "Choose the patient&#x27;s sex" in page
    assert Patient.objects.count() == 0


def test_an_nhs_number_with_a_wrong_check_digit_is_refused_at_its_field(desk):
    _tenant, client = desk

    response = _register(client, nhs_number="943 476 5918")
    page = response.content.decode()

    assert response.status_code == 422
    assert 'id="id_nhs_number-error"' in page
    assert "Is not a valid NHS number (10 digits with a modulus 11 check digit)" in page


def test_a_probable_duplicate_is_shown_with_why_and_can_be_confirmed_as_new(desk):
    tenant, client = desk
    _register(client, idempotency_key="k1")
    existing = Patient.objects.get(tenant=tenant)

    warned = _register(client, idempotency_key="k2")
    page = warned.content.decode()
    assert warned.status_code == 409
    assert "This may be a patient we already have" in page
    assert f'href="/patients/{existing.pk}/">This is them: SMITH, Ada' in page
    assert "Same family name, given name, date of birth" in page
    assert Patient.objects.filter(tenant=tenant).count() == 1

    confirmed = _register(client, idempotency_key="k2", confirm_new="true")
    assert confirmed.status_code == 302
    assert Patient.objects.filter(tenant=tenant).count() == 2


def test_an_nhs_number_already_held_opens_that_patient(desk):
    tenant, client = desk
    _register(client, nhs_number=VALID_NHS, idempotency_key="k1")

    again = _register(client, family="Other", nhs_number=VALID_NHS, idempotency_key="k2")

    assert again.headers["Location"].endswith("?existing=1")
    assert Patient.objects.filter(tenant=tenant).count() == 1


def test_search_finds_by_name_either_order_by_mrn_and_by_nhs_number(desk):
    tenant, client = desk
    _register(client, nhs_number=VALID_NHS, idempotency_key="k1")
    _register(client, family="Smithers", given="Bob", birth_date="1990-01-01", sex="male", idempotency_key="k2")
    ada = Patient.objects.get(tenant=tenant, family="Smith")
    mrn = ada.identifiers.get(system__uri__endswith=":mrn").value

    def names(query: str) -> list[str]:
        return re.findall(r">([A-Z]+, \w+)</a>", client.get("/patients/", {"q": query}).content.decode())

    assert names("smi") == ["SMITH, Ada", "SMITHERS, Bob"]
    assert names("ada smith") == ["SMITH, Ada"]
    assert names("Smith, Ada") == ["SMITH, Ada"]
    assert names(mrn) == ["SMITH, Ada"]
    assert names("9434765919") == ["SMITH, Ada"]
    assert names("943 476 5919") == ["SMITH, Ada"]
    assert "No patient matches" in client.get("/patients/", {"q": "zzz"}).content.decode()
    by_birth = client.get("/patients/", {"q": "smi", "born": "1990-01-01"}).content.decode()
    assert "SMITHERS, Bob" in by_birth and "SMITH, Ada" not in by_birth


def test_type_ahead_answers_the_results_fragment_alone(desk):
    _tenant, client = desk
    _register(client)

    fragment = client.get(
        "/patients/", {"q": "smi"}, headers={"HX-Request": "true", "HX-Target": "patient-results"}
    ).content.decode()

    assert "SMITH, Ada" in fragment
    assert "<html" not in fragment and "Register a new patient" not in fragment


def test_search_never_finds_another_tenants_patients_and_their_record_is_a_404(desk):
    _tenant, client = desk
    other = TenantFactory()
    other_client = signed_in(member(other, Role.FRONT_DESK))
    _register(other_client, nhs_number=VALID_NHS)
    theirs = Patient.objects.get(tenant=other)

    assert "SMITH" not in client.get("/patients/", {"q": "smith"}).content.decode()
    assert "SMITH" not in client.get("/patients/", {"q": "9434765919"}).content.decode()
    foreign = client.get(f"/patients/{theirs.pk}/")
    missing = client.get("/patients/00000000-0000-0000-0000-000000000000/")
    assert foreign.status_code == missing.status_code == 404
    assert _without_tokens(foreign.content) == _without_tokens(missing.content)


def _without_tokens(content: bytes) -> bytes:
    """The page without its per-response CSRF token."""
    return re.sub(rb"[A-Za-z0-9]{64}", b"TOKEN", content)
