"""The FHIR R4 read API as a protocol (http://hl7.org/fhir/R4/http.html,
http://hl7.org/fhir/R4/search.html): who may call it, whose data it shows, what it refuses, how
it searches and pages while data is written, merged patients, versions and the
CapabilityStatement. Every answer is checked over HTTP against real PostgreSQL."""

from __future__ import annotations

import copy
import datetime
import re
import threading
import time
import uuid
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from billing.models import ChargeItem
from clinic.models import ApiClient, OutboxEvent, Tenant
from clinic.services import hash_token, rotate_api_client_token
from encounters.models import Encounter
from identity import facade as identity
from identity.contracts import Demographics, Gender, HumanName, IdentifierInput
from identity.models import Patient, PatientIdentifier
from interop.fhir import registry
from interop.v2.intake import receive
from orders import services as orders
from orders.models import ServiceRequest
from results.models import DiagnosticReport, Observation, ResultRevision
from terminology import services as terminology
from terminology.models import ConceptMapVersion
from tests.interop.fhir_support import Fhir, charted_visit, entries, fhir_client
from tests.support.hl7 import LAB_MRN, LabVisit, er7, sample
from tests.support.terminology import load

pytestmark = pytest.mark.django_db

BASE = "http://testserver/fhir"
LOINC = "http://loinc.org"
LAB_CODES = "urn:clinic:lab:SomeSystem:L"  # where a lab's own (OBX-3 ...^L) codes live
ERYTHROCYTES = "11273-0"  # P (4.06) in LAB-ORU-1, F (4.08) in LAB-ORU-2
HEMOGLOBIN = "20509-6"


# --- helpers -----------------------------------------------------------------------------------


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [r["id"] for r in entries(bundle, mode)]


def typed_ids(bundle: dict[str, Any], mode: str = "include") -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in entries(bundle, mode)}


def links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle.get("link", [])}


def local(url: str) -> str:
    """A link of the API as the path the test client asks for (after /fhir/)."""
    assert url.startswith(f"{BASE}/"), url
    return url.removeprefix(f"{BASE}/")


def query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def pages(fhir: Fhir, path: str) -> Iterator[dict[str, Any]]:
    """Each page of a search, following ``next`` as given."""
    while True:
        bundle = fhir.json(path)
        yield bundle
        following = links(bundle).get("next")
        if following is None:
            return
        path = local(following)


def outcome_of(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The OperationOutcome a response answers with, after checking its status and issue code."""
    assert response.status_code == status, (response.status_code, response.content[:1000])
    assert response["Content-Type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    if code is not None:
        assert body["issue"][0]["code"] == code, body
    return body


def notes(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues of the Bundle's ``outcome`` entries."""
    return [issue for r in entries(bundle, "outcome") for issue in r["issue"]]


def observation_ids(visit: LabVisit) -> set[str]:
    return {str(pk) for pk in Observation.objects.filter(tenant_id=visit.tenant_id).values_list("pk", flat=True)}


def observation(visit: LabVisit, loinc: str) -> Observation:
    return Observation.objects.get(tenant_id=visit.tenant_id, loinc=loinc)


def add_observations(visit: LabVisit, count: int, *, tag: str = "X") -> list[str]:
    """``count`` more results in the visit's first report, written straight to the table (the
    writes a lab's next messages would make, without the cost of charting them)."""
    template = Observation.objects.filter(tenant_id=visit.tenant_id).order_by("pk").first()
    assert template is not None
    made = []
    for n in range(count):
        row = copy.copy(template)
        row.pk = uuid.uuid4()
        row.code_key = f"L|{tag}{n}-{uuid.uuid4().hex[:8]}"
        row.loinc = ""
        row._state.adding = True
        made.append(row)
    Observation.objects.bulk_create(made)
    return [str(row.pk) for row in made]


def register(tenant_id: int, *, mrn: str, family: str, given: str, birth_date: Any, gender: Gender) -> Any:
    with transaction.atomic():
        return identity.register_patient(
            tenant_id=tenant_id,
            identifiers=[IdentifierInput(system=LAB_MRN, value=mrn)],
            demographics=Demographics(
                name=HumanName(family=family, given=(given,)), birth_date=birth_date, gender=gender
            ),
            confirm_new=True,
            actor="test",
        ).patient


def snapshot() -> dict[str, Any]:
    """Every row (and its version or last change) of what the API serves, to prove nothing moved."""
    return {
        "patients": sorted(Patient.objects.values_list("pk", "version", "active", "replaced_by_id")),
        "identifiers": sorted(PatientIdentifier.objects.values_list("pk", "patient_id", "use")),
        "encounters": sorted(Encounter.objects.values_list("pk", "version", "status")),
        "orders": sorted(ServiceRequest.objects.values_list("pk", "version", "status")),
        "reports": sorted(DiagnosticReport.objects.values_list("pk", "version", "status", "updated_at")),
        "observations": sorted(Observation.objects.values_list("pk", "version", "status", "updated_at")),
        "revisions": ResultRevision.objects.count(),
        "charges": sorted(ChargeItem.objects.values_list("pk", "status")),
        "events": OutboxEvent.objects.count(),
    }


@pytest.fixture
def visit() -> LabVisit:
    return charted_visit(slug="a")


@pytest.fixture
def fhir(visit: LabVisit) -> Fhir:
    return fhir_client(visit.clinic.tenant)


# --- auth ------------------------------------------------------------------------------------


def test_no_token_is_401_with_a_bearer_challenge(visit):
    response = Client().get(f"/fhir/Patient/{visit.patient_id}")

    outcome_of(response, 401, "login")
    assert response["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer", "Bearer two words"],
    ids=["unknown", "basic", "empty", "malformed"],
)
def test_a_bad_token_is_401(visit, authorization):
    response = Client().get("/fhir/Observation", HTTP_AUTHORIZATION=authorization)

    outcome_of(response, 401, "login")
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_a_revoked_client_or_rotated_token_or_inactive_tenant_is_401(visit):
    revoked, rotated, closed = (fhir_client(visit.clinic.tenant) for _ in range(3))
    for client in (revoked, rotated, closed):
        assert client.get("Observation").status_code == 200

    ApiClient.objects.filter(token_sha256=hash_token(revoked.token)).update(is_active=False)
    rotate_api_client_token(client_id=ApiClient.objects.get(token_sha256=hash_token(rotated.token)).pk)

    outcome_of(revoked.get("Observation"), 401, "login")
    outcome_of(rotated.get("Observation"), 401, "login")  # the token it held before
    Tenant.objects.filter(pk=visit.tenant_id).update(is_active=False)
    outcome_of(closed.get("Observation"), 401, "login")


def test_a_scope_for_another_type_is_403(visit):
    patients_only = fhir_client(visit.clinic.tenant, ["system/Patient.read"])
    one = observation(visit, HEMOGLOBIN)

    assert patients_only.get(f"Patient/{visit.patient_id}").status_code == 200
    outcome_of(patients_only.get("Observation"), 403, "forbidden")
    outcome_of(patients_only.get(f"Observation/{one.pk}"), 403, "forbidden")
    outcome_of(patients_only.get(f"Observation/{one.pk}/_history"), 403, "forbidden")
    outcome_of(patients_only.get(f"Encounter/{visit.encounter.pk}/$everything"), 403, "forbidden")
    outcome_of(
        patients_only.post("Observation/_search", "status=final", content_type="application/x-www-form-urlencoded"),
        403,
        "forbidden",
    )


def test_the_observation_scope_reads_observations_and_nothing_else(visit):
    observations_only = fhir_client(visit.clinic.tenant, ["system/Observation.read"])
    one = observation(visit, HEMOGLOBIN)

    assert set(ids(observations_only.json("Observation?_count=100"))) == observation_ids(visit)
    assert observations_only.json(f"Observation/{one.pk}")["id"] == str(one.pk)
    outcome_of(observations_only.get(f"Patient/{visit.patient_id}"), 403, "forbidden")
    outcome_of(observations_only.get("DiagnosticReport"), 403, "forbidden")


def test_the_wildcard_scope_reads_every_registered_type(visit, fhir):
    for resource in registry.all_types():
        assert fhir.get(resource.name).status_code == 200, resource.name


def test_an_include_of_a_type_the_client_cannot_read_is_left_out_with_a_warning(visit):
    observations_only = fhir_client(visit.clinic.tenant, ["system/Observation.read"])

    bundle = observations_only.json("Observation?_include=Observation:patient&_include=Observation:encounter")

    assert set(ids(bundle)) == observation_ids(visit)
    assert entries(bundle, "include") == []
    warnings = notes(bundle)
    assert {(i["severity"], i["code"]) for i in warnings} == {("warning", "forbidden")}
    assert any("Patient" in i["diagnostics"] for i in warnings)
    assert any("Encounter" in i["diagnostics"] for i in warnings)


def test_a_revinclude_of_a_type_the_client_cannot_read_is_left_out_with_a_warning(visit):
    patients_only = fhir_client(visit.clinic.tenant, ["system/Patient.read"])

    bundle = patients_only.json(f"Patient?_id={visit.patient_id}&_revinclude=Observation:patient")

    assert ids(bundle) == [str(visit.patient_id)]
    assert entries(bundle, "include") == []
    assert [(i["severity"], i["code"]) for i in notes(bundle)] == [("warning", "forbidden")]


def test_everything_leaves_out_the_types_the_client_cannot_read(visit):
    patients_only = fhir_client(visit.clinic.tenant, ["system/Patient.read"])

    bundle = patients_only.json(f"Patient/{visit.patient_id}/$everything")

    assert typed_ids(bundle, "match") == {f"Patient/{visit.patient_id}"}


# --- tenancy ---------------------------------------------------------------------------------


@pytest.fixture
def two_clinics() -> tuple[LabVisit, LabVisit]:
    """Two clinics the same lab serves, each with Donald Duck (the same MRN) and his results."""
    return charted_visit(slug="a"), charted_visit(slug="b")


def resources_of(visit: LabVisit) -> list[tuple[str, str]]:
    """One resource of every kind the API serves from a clinic, as (type, id)."""
    tenant = visit.tenant_id
    report = DiagnosticReport.objects.filter(tenant_id=tenant).first()
    charge = ChargeItem.objects.filter(tenant_id=tenant).first()
    assert report is not None and charge is not None
    concept_map = ConceptMapVersion.objects.filter(concept_map__tenant_id=tenant).first()
    assert concept_map is not None
    return [
        ("Patient", str(visit.patient_id)),
        ("Encounter", str(visit.encounter.pk)),
        ("ServiceRequest", str(visit.cbc.pk)),
        ("DiagnosticReport", str(report.pk)),
        ("Observation", str(observation(visit, HEMOGLOBIN).pk)),
        ("ChargeItem", str(charge.pk)),
        ("Organization", str(tenant)),
        ("Location", str(visit.clinic.site.pk)),
        ("Practitioner", str(visit.clinic.doctor.pk)),
        ("ConceptMap", str(concept_map.pk)),
    ]


def test_another_tenants_resources_do_not_exist_for_read_vread_and_history(two_clinics):
    a, b = two_clinics
    ours, theirs = fhir_client(a.clinic.tenant), fhir_client(b.clinic.tenant)

    for type_name, resource_id in resources_of(a):
        assert ours.get(f"{type_name}/{resource_id}").status_code == 200, type_name
        assert ours.get(f"{type_name}/{resource_id}/_history").status_code == 200, type_name
        for path in (
            f"{type_name}/{resource_id}",
            f"{type_name}/{resource_id}/_history",
            f"{type_name}/{resource_id}/_history/1",
        ):
            outcome_of(theirs.get(path), 404, "not-found")


def test_another_tenants_resource_answers_exactly_like_one_that_does_not_exist(two_clinics):
    a, b = two_clinics
    theirs = fhir_client(b.clinic.tenant)
    hidden = str(observation(a, HEMOGLOBIN).pk)
    missing = str(uuid.uuid4())

    for suffix in ("", "/_history", "/_history/1"):
        found = theirs.get(f"Observation/{hidden}{suffix}")
        absent = theirs.get(f"Observation/{missing}{suffix}")
        assert found.status_code == absent.status_code == 404
        assert found.content.replace(hidden.encode(), b"?") == absent.content.replace(missing.encode(), b"?")


def test_another_tenants_resources_never_match_a_search(two_clinics):
    a, b = two_clinics
    theirs = fhir_client(b.clinic.tenant)
    report = DiagnosticReport.objects.filter(tenant_id=a.tenant_id).first()
    assert report is not None

    for path in (
        f"Patient?_id={a.patient_id}",
        f"Observation?_id={observation(a, HEMOGLOBIN).pk}",
        f"DiagnosticReport?_id={report.pk}",
        f"Observation?patient={a.patient_id}",
        f"Observation?subject=Patient/{a.patient_id}",
        f"Observation?encounter={a.encounter.pk}",
        f"Encounter?patient={a.patient_id}",
        f"ServiceRequest?patient={a.patient_id}",
        f"DiagnosticReport?patient={a.patient_id}",
        f"DiagnosticReport?based-on={a.cbc.pk}",
        f"ChargeItem?patient={a.patient_id}",
        f"DiagnosticReport?result={observation(a, HEMOGLOBIN).pk}",
        f"Encounter?_id={a.encounter.pk}",
        f"Encounter?identifier=https://clinic.example/fhir/sid/a/visit-number|{a.encounter.visit_number}",
        f"Organization?_id={a.tenant_id}",
    ):
        bundle = theirs.json(path)
        assert entries(bundle) == [], path
        assert theirs.json(f"{path}&_summary=count")["total"] == 0, path
    # The same MRN in both clinics: each sees only its own Donald Duck.
    assert ids(theirs.json("Patient?identifier=10006579")) == [str(b.patient_id)]
    assert ids(fhir_client(a.clinic.tenant).json("Patient?identifier=10006579")) == [str(a.patient_id)]


def test_includes_and_revincludes_never_pull_another_tenants_rows(two_clinics):
    a, b = two_clinics
    theirs = fhir_client(b.clinic.tenant)
    # Rows that point across tenants (which the apps never write) prove the include queries
    # themselves are scoped: a dangling reference finds nothing.
    b_hemoglobin = observation(b, HEMOGLOBIN)
    Observation.objects.filter(pk=b_hemoglobin.pk).update(patient_id=a.patient_id, encounter_id=a.encounter.pk)
    Observation.objects.filter(pk=observation(a, ERYTHROCYTES).pk).update(
        patient_id=b.patient_id, report_id=b_hemoglobin.report_id, code_key="L|stray"
    )
    a_ids = {str(a.patient_id), str(a.encounter.pk), str(a.cbc.pk), str(a.diff.pk)} | observation_ids(a)

    for path in (
        f"Observation?_id={b_hemoglobin.pk}&_include=Observation:patient&_include=Observation:encounter",
        "Observation?_include=Observation:patient&_include=Observation:based-on&_include=Observation:encounter",
        "DiagnosticReport?_include=DiagnosticReport:result&_include=DiagnosticReport:patient",
        "Patient?_revinclude=Observation:patient&_revinclude=Encounter:patient",
        "Encounter?_revinclude=Observation:encounter&_include=Encounter:patient",
        "ServiceRequest?_revinclude=DiagnosticReport:based-on&_include=ServiceRequest:patient",
        "Observation?_revinclude=DiagnosticReport:result",
    ):
        bundle = theirs.json(path)
        assert entries(bundle) != [], path
        shown = {r["id"] for mode in ("match", "include") for r in entries(bundle, mode)}
        assert not shown & a_ids, path


def test_everything_of_another_tenants_patient_or_encounter_is_404(two_clinics):
    a, b = two_clinics
    ours, theirs = fhir_client(a.clinic.tenant), fhir_client(b.clinic.tenant)

    for path in (f"Patient/{a.patient_id}/$everything", f"Encounter/{a.encounter.pk}/$everything"):
        assert ours.get(path).status_code == 200
        outcome_of(theirs.get(path), 404, "not-found")


def test_a_next_link_followed_with_another_tenants_token_shows_nothing_of_the_first(two_clinics):
    a, b = two_clinics
    ours, theirs = fhir_client(a.clinic.tenant), fhir_client(b.clinic.tenant)
    a_rows = observation_ids(a) | {str(a.patient_id)}

    for path in (
        "Observation?_count=2&_include=Observation:patient",
        f"Observation?patient={a.patient_id}&_count=2",
        "Observation?_count=2&_sort=-date",
    ):
        following = links(ours.json(path))["next"]
        bundle = theirs.json(local(following))
        shown = {r["id"] for mode in ("match", "include") for r in entries(bundle, mode)}
        assert not shown & a_rows, path
        assert shown <= observation_ids(b) | {str(b.patient_id)}, path
    everything = links(ours.json(f"Patient/{a.patient_id}/$everything?_count=2"))["next"]
    outcome_of(theirs.get(local(everything)), 404, "not-found")


# --- writes ----------------------------------------------------------------------------------


TRANSACTION = (
    '{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","active":false},'
    '"request":{"method":"POST","url":"Patient"}}]}'
)


def write_requests(visit: LabVisit) -> list[tuple[str, str, str]]:
    obs = observation(visit, HEMOGLOBIN).pk
    patient = visit.patient_id
    body = '{"resourceType":"Observation","status":"cancelled"}'
    return [
        ("POST", "Observation", body),
        ("POST", "Patient", '{"resourceType":"Patient"}'),
        ("PUT", f"Observation/{obs}", body),
        ("PUT", "Observation?code=20509-6", body),
        ("PATCH", f"Observation/{obs}", '[{"op":"replace","path":"/status","value":"cancelled"}]'),
        ("PATCH", f"Patient/{patient}", '[{"op":"replace","path":"/active","value":false}]'),
        ("DELETE", f"Observation/{obs}", ""),
        ("DELETE", f"Patient/{patient}", ""),
        ("DELETE", "Observation?patient=" + str(patient), ""),
        ("POST", "", TRANSACTION),
        ("POST", "", TRANSACTION.replace('"transaction"', '"batch"')),
        ("POST", f"Patient/{patient}/_history", body),
        ("PUT", "metadata", "{}"),
    ]


def test_every_write_is_405_with_an_operation_outcome_and_changes_nothing(visit, fhir):
    before = snapshot()

    for method, path, body in write_requests(visit):
        response = fhir.method(method, path, body)
        outcome = outcome_of(response, 405, "not-supported")
        assert "read-only" in outcome["issue"][0]["diagnostics"], (method, path)
        assert "POST" not in response["Allow"] and "GET" in response["Allow"], (method, path)
        # Not even a caller without a token learns more, or changes anything.
        anonymous = Client().generic(method, f"/fhir/{path}", body, content_type="application/fhir+json")
        outcome_of(anonymous, 405, "not-supported")

    assert snapshot() == before


def test_post_search_gives_the_same_bundle_as_get(visit, fhir):
    query_string = (
        f"patient=Patient/{visit.patient_id}&code={LOINC}|{HEMOGLOBIN},{LOINC}|{ERYTHROCYTES}"
        "&_include=Observation:patient&_count=1&_sort=-date"
    )

    got = fhir.json(f"Observation?{query_string}")
    posted = fhir.post("Observation/_search", query_string, content_type="application/x-www-form-urlencoded")
    split = fhir.post(
        "Observation/_search?_count=1&_sort=-date",
        f"patient=Patient/{visit.patient_id}&code={LOINC}|{HEMOGLOBIN},{LOINC}|{ERYTHROCYTES}"
        "&_include=Observation:patient",
        content_type="application/x-www-form-urlencoded",
    )

    for response in (posted, split):
        assert response.status_code == 200, response.content
        body = response.json()
        assert [e["fullUrl"] for e in body["entry"]] == [e["fullUrl"] for e in got["entry"]]
        assert [e["search"] for e in body["entry"]] == [e["search"] for e in got["entry"]]
        assert dict(query(links(body)["self"])) == dict(query(links(got)["self"]))
        # The cursors differ only by the time each search started; the pages they lead to agree.
        without_cursor = lambda b: {kv for kv in query(links(b)["next"]) if kv[0] != "_cursor"}  # noqa: E731
        assert without_cursor(body) == without_cursor(got)
        assert ids(fhir.json(local(links(body)["next"]))) == ids(fhir.json(local(links(got)["next"])))
    assert len(ids(got)) == 1 and typed_ids(got) == {f"Patient/{visit.patient_id}"}


def test_post_search_takes_only_a_form_body(visit, fhir):
    response = fhir.post("Observation/_search", '{"status": "final"}')

    outcome_of(response, 400, "invalid")


# --- errors ----------------------------------------------------------------------------------


def test_an_unknown_type_is_404(visit, fhir):
    for path in ("Medication", "Medication/1", "Observations", "observation"):
        outcome = outcome_of(fhir.get(path), 404, "not-found")
        assert "Observation" in outcome["issue"][0]["diagnostics"]  # it says what is served


def test_an_unknown_id_or_version_is_404(visit, fhir):
    obs = observation(visit, HEMOGLOBIN).pk
    for path in (
        f"Observation/{uuid.uuid4()}",
        "Observation/not-a-uuid",
        f"Observation/{uuid.uuid4()}/_history",
        f"Observation/{obs}/_history/99",
        f"Observation/{obs}/_history/x",
        "ConceptMap/987654321",
        "Organization/abc",
        f"Patient/{uuid.uuid4()}/$everything",
        f"Observation/{obs}/$everything",
        f"Observation/{obs}/_history/1/extra",
    ):
        outcome_of(fhir.get(path), 404, "not-found")


@pytest.mark.parametrize(
    "path",
    [
        "Observation?date=2014-13-01",
        "Observation?date=yesterday",
        "Observation?date=2014-02-30",
        "Observation?date=ap2014",
        "Observation?date=xx2014",
        "Observation?_lastUpdated=2014-10-06T25:00",
        "Patient?birthdate=1980-1-1",
        "Observation?_count=lots",
        "Observation?_count=-1",
        "Observation?_count=1.5",
        "Observation?_sort=value",
        "Observation?_sort=date,-colour",
        "Observation?patient:fuzzy=abc",
        "Observation?code:below=20509-6",
        "Observation?date:exact=2014",
        "Patient?gender=robot",
        "Patient?active=maybe",
        "Observation?patient=Encounter/abc",
        "Observation?code=",
        "Observation?_elements=code.coding",
        "Observation?_include=Observation:performer",
        "Observation?_include=Patient:link",
        "Observation?_revinclude=Observation:patient",
        "Observation?_cursor=garbage",
    ],
)
def test_a_bad_parameter_value_is_400(visit, fhir, path):
    outcome = outcome_of(fhir.get(path), 400)

    assert outcome["issue"][0]["severity"] == "error"
    assert outcome["issue"][0]["code"] in ("invalid", "not-supported")
    assert outcome["issue"][0].get("expression"), outcome


def test_a_cursor_of_another_search_is_400(visit, fhir):
    cursor = dict(query(links(fhir.json("Observation?_count=2"))["next"]))["_cursor"]

    for path in (f"Patient?_cursor={cursor}", f"Observation?_sort=date&_count=2&_cursor={cursor}"):
        outcome_of(fhir.get(path), 400, "invalid")
    outcome_of(fhir.get(f"Patient/{visit.patient_id}/$everything?_cursor={cursor}"), 400, "invalid")


def test_bad_everything_count_is_400(visit, fhir):
    for count in ("0", "x", "-3"):
        outcome_of(fhir.get(f"Patient/{visit.patient_id}/$everything?_count={count}"), 400, "invalid")


def test_an_unknown_parameter_is_ignored_and_left_out_of_the_self_link(visit, fhir):
    plain = fhir.json(f"Observation?patient={visit.patient_id}&_count=3")

    lenient = fhir.json(f"Observation?colour=blue&patient={visit.patient_id}&_count=3&x:y=1", Prefer="handling=lenient")
    unmarked = fhir.json(f"Observation?colour=blue&patient={visit.patient_id}&_count=3")

    for bundle in (lenient, unmarked):
        assert ids(bundle) == ids(plain)
        assert links(bundle)["self"] == links(plain)["self"]
        assert "colour" not in links(bundle)["self"] and "colour" not in links(bundle)["next"]
        assert dict(query(links(bundle)["self"])) == {"patient": str(visit.patient_id), "_count": "3"}


def test_an_unknown_parameter_is_400_with_strict_handling(visit, fhir):
    response = fhir.get(f"Observation?colour=blue&patient={visit.patient_id}", Prefer="handling=strict")

    outcome = outcome_of(response, 400, "invalid")
    assert outcome["issue"][0]["expression"] == ["colour"]
    assert fhir.get(f"Observation?patient={visit.patient_id}", Prefer="handling=strict").status_code == 200
    outcome_of(fhir.get("Observation?_summary=text", Prefer="return=minimal, handling=strict"), 400)


def test_xml_is_406(visit, fhir):
    obs = observation(visit, HEMOGLOBIN).pk
    for path in (
        "Observation?_format=xml",
        "Observation?_format=application/fhir%2Bxml",
        f"Observation/{obs}?_format=xml",
        f"Observation/{obs}/_history?_format=text/xml",
        f"Patient/{visit.patient_id}/$everything?_format=xml",
        "metadata?_format=xml",
    ):
        outcome_of(fhir.get(path), 406, "not-supported")
    for fmt in ("json", "application/fhir%2Bjson", "application/json"):
        assert fhir.get(f"Observation/{obs}?_format={fmt}").status_code == 200


# --- search semantics ------------------------------------------------------------------------


def chart_lab_coded_result(visit: LabVisit) -> Observation:
    """A CRP result the lab codes with its own code CRPX (OBX-3 ...^L), which the clinic's
    concept map translates to LOINC 1988-5."""
    placed, _ = orders.place_orders(
        tenant_id=visit.tenant_id, encounter_id=visit.encounter.pk, codes=["CRP"], actor="t"
    )
    ServiceRequest.objects.filter(pk=placed[0].pk).update(placer_number="CRP-1")
    terminology.ensure_code_system(uri=LAB_CODES, name="Some lab's codes", tenant_id=visit.tenant_id)
    load(
        {"source_system": LAB_CODES, "source_code": "CRPX", "target_system": LOINC, "target_code": "1988-5"},
        version="v1",
        tenant_id=visit.tenant_id,
        published_on=datetime.date(2000, 1, 1),
    )
    slug = visit.clinic.tenant.slug
    receipt = receive(
        raw=er7(
            f"""
MSH|^~\\&|SomeSystem||TransformationAgent|{slug}|20141007100000+0700||ORU^R01|CRP-1|T|2.5
PID|1||10006579^^^1^MR^1||DUCK^DONALD^D||19241010|M
OBR|1|CRP-1|F-CRP-1|CRP^C reactive protein^L|||20141007090000+0700|||||||||||||||20141007093000+0700|||F
OBX|1|NM|CRPX^CRP^L||4|mg/L||N|||F|||20141007090000+0700
"""
        ),
        transport="mllp",
        peer="test",
    )
    assert receipt.code == "AA", receipt.ack
    return Observation.objects.get(tenant_id=visit.tenant_id, loinc="1988-5")


def test_a_token_matches_system_and_code_loinc_or_the_labs_own(visit, fhir):
    crp = str(chart_lab_coded_result(visit).pk)
    hemoglobin = str(observation(visit, HEMOGLOBIN).pk)
    everything = observation_ids(visit)

    def found(value: str) -> set[str]:
        return set(ids(fhir.json(f"Observation?code={value}&_count=100")))

    assert found(f"{LOINC}|{HEMOGLOBIN}") == found(HEMOGLOBIN) == {hemoglobin}
    assert found(f"http://snomed.info/sct|{HEMOGLOBIN}") == set()
    assert found(f"|{HEMOGLOBIN}") == set()  # a code without a system
    assert found(f"{LOINC}|") == everything  # every result is LOINC-coded, the CRP by translation
    assert found(f"{LOINC}|1988-5") == found("1988-5") == {crp}
    assert found(f"{LAB_CODES}|CRPX") == found("CRPX") == {crp}
    assert found(f"{LAB_CODES}|") == {crp}
    assert found(f"{LOINC}|CRPX") == set() and found(f"{LAB_CODES}|1988-5") == set()
    assert found(f"{LOINC}|{HEMOGLOBIN},{LAB_CODES}|CRPX") == {hemoglobin, crp}
    codings = fhir.json(f"Observation/{crp}")["code"]["coding"]
    assert [(c["system"], c["code"]) for c in codings] == [(LOINC, "1988-5"), (LAB_CODES, "CRPX")]
    assert set(ids(fhir.json("Observation?status=final&_count=100"))) == everything
    assert set(ids(fhir.json("Observation?status=http://hl7.org/fhir/observation-status|final&_count=100"))) == (
        everything
    )
    assert ids(fhir.json("Observation?status=http://example.org/status|final")) == []
    assert ids(fhir.json("Observation?status:not=final")) == []


def test_a_reference_is_an_id_a_typed_id_or_an_absolute_url(visit, fhir):
    expected = observation_ids(visit)
    patient = visit.patient_id

    for value in (str(patient), f"Patient/{patient}", f"{BASE}/Patient/{patient}"):
        for name in ("patient", "subject", "subject:Patient"):
            assert set(ids(fhir.json(f"Observation?{name}={value}&_count=100"))) == expected, (name, value)
    assert set(ids(fhir.json(f"Observation?encounter=Encounter/{visit.encounter.pk}&_count=100"))) == expected
    assert ids(fhir.json(f"Observation?patient={uuid.uuid4()}")) == []
    assert ids(fhir.json("Observation?patient=not-an-id")) == []
    cbc_observations = {
        str(o) for o in Observation.objects.filter(report__order=visit.cbc).values_list("pk", flat=True)
    }
    assert set(ids(fhir.json(f"Observation?based-on=ServiceRequest/{visit.cbc.pk}"))) == cbc_observations


@pytest.fixture
def dated(visit: LabVisit) -> dict[str, str]:
    """The visit's ten results re-dated so each date search has a known answer: name → ID."""
    when = {
        "2013-12-31T23:30": datetime.datetime(2013, 12, 31, 23, 30, tzinfo=datetime.UTC),
        "2014-01-01T00:00": datetime.datetime(2014, 1, 1, tzinfo=datetime.UTC),
        "2014-10-05T12:00": datetime.datetime(2014, 10, 5, 12, tzinfo=datetime.UTC),
        "2014-10-06T01:30": datetime.datetime(2014, 10, 6, 1, 30, tzinfo=datetime.UTC),
        "2014-10-06T23:59": datetime.datetime(2014, 10, 6, 23, 59, 59, tzinfo=datetime.UTC),
        "2014-10-07T00:00": datetime.datetime(2014, 10, 7, tzinfo=datetime.UTC),
        "2014-11-01T00:00": datetime.datetime(2014, 11, 1, tzinfo=datetime.UTC),
        "2015-01-01T00:00": datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC),
        "2016-06-15T08:00": datetime.datetime(2016, 6, 15, 8, tzinfo=datetime.UTC),
        "none": None,
    }
    rows = list(Observation.objects.filter(tenant_id=visit.tenant_id).order_by("pk"))
    assert len(rows) == len(when)
    out = {}
    for row, (name, at) in zip(rows, when.items(), strict=True):
        Observation.objects.filter(pk=row.pk).update(effective_at=at)
        out[name] = str(row.pk)
    return out


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "2014",
            [
                "2014-01-01T00:00",
                "2014-10-05T12:00",
                "2014-10-06T01:30",
                "2014-10-06T23:59",
                "2014-10-07T00:00",
                "2014-11-01T00:00",
            ],
        ),
        ("eq2014-10", ["2014-10-05T12:00", "2014-10-06T01:30", "2014-10-06T23:59", "2014-10-07T00:00"]),
        ("2014-10-06", ["2014-10-06T01:30", "2014-10-06T23:59"]),
        (
            "ne2014-10-06",
            [
                "2013-12-31T23:30",
                "2014-01-01T00:00",
                "2014-10-05T12:00",
                "2014-10-07T00:00",
                "2014-11-01T00:00",
                "2015-01-01T00:00",
                "2016-06-15T08:00",
            ],
        ),
        ("lt2014-10-06", ["2013-12-31T23:30", "2014-01-01T00:00", "2014-10-05T12:00"]),
        (
            "le2014-10-06",
            ["2013-12-31T23:30", "2014-01-01T00:00", "2014-10-05T12:00", "2014-10-06T01:30", "2014-10-06T23:59"],
        ),
        ("gt2014-10-06", ["2014-10-07T00:00", "2014-11-01T00:00", "2015-01-01T00:00", "2016-06-15T08:00"]),
        (
            "ge2014-10-06",
            [
                "2014-10-06T01:30",
                "2014-10-06T23:59",
                "2014-10-07T00:00",
                "2014-11-01T00:00",
                "2015-01-01T00:00",
                "2016-06-15T08:00",
            ],
        ),
        ("lt2014", ["2013-12-31T23:30"]),
        ("gt2014", ["2015-01-01T00:00", "2016-06-15T08:00"]),
        ("ge2015-01-01T00:00:00Z", ["2015-01-01T00:00", "2016-06-15T08:00"]),
        ("2014-10-06T01:30:00Z", ["2014-10-06T01:30"]),
        ("2014-10-06T08:30:00%2B07:00", ["2014-10-06T01:30"]),  # the same instant, another zone
        ("2014-10-06T01:30", ["2014-10-06T01:30"]),
        ("lt2014-01-01T00:00:00Z", ["2013-12-31T23:30"]),
        ("le2014-01-01T00:00:00Z", ["2013-12-31T23:30", "2014-01-01T00:00"]),
        ("2012", []),
    ],
)
def test_a_date_matches_by_prefix_and_partial_date(fhir, dated, value, expected):
    bundle = fhir.json(f"Observation?date={value}&_count=100")

    assert set(ids(bundle)) == {dated[name] for name in expected}


def test_dates_combine_as_a_range_and_alternatives(fhir, dated):
    def found(q: str) -> set[str]:
        return set(ids(fhir.json(f"Observation?{q}&_count=100")))

    assert found("date=ge2014-01&date=lt2014-11") == {
        dated[n]
        for n in ("2014-01-01T00:00", "2014-10-05T12:00", "2014-10-06T01:30", "2014-10-06T23:59", "2014-10-07T00:00")
    }
    assert found("date=2013,2016") == {dated["2013-12-31T23:30"], dated["2016-06-15T08:00"]}


def test_count_defaults_to_50_and_is_capped_at_1000(visit, fhir):
    add_observations(visit, 1_000)
    total = Observation.objects.filter(tenant_id=visit.tenant_id).count()

    default = fhir.json("Observation")
    capped = fhir.json("Observation?_count=5000")
    zero = fhir.json("Observation?_count=0")

    assert len(entries(default)) == 50 and "next" in links(default)
    assert "total" not in default  # the whole result is not on the page: counting it costs
    assert len(entries(capped)) == 1000 and "next" in links(capped)
    assert ("_count", "1000") in query(links(capped)["self"]) and ("_count", "1000") in query(links(capped)["next"])
    assert len(entries(fhir.json(local(links(capped)["next"])))) == total - 1000
    assert zero["total"] == total and "entry" not in zero
    assert fhir.json("Observation?_count=3&_total=accurate")["total"] == total


def test_sort_by_date_and_last_updated_either_way(visit, fhir, dated):
    rows = {str(o.pk): o for o in Observation.objects.filter(tenant_id=visit.tenant_id)}
    base = timezone.now() - datetime.timedelta(days=30)
    for n, pk in enumerate(sorted(rows, key=lambda pk: rows[pk].effective_at or base, reverse=True)):
        Observation.objects.filter(pk=pk).update(updated_at=base + datetime.timedelta(hours=n))
    dates = {v: k for k, v in dated.items()}

    def order(sort: str) -> list[str]:
        return [dates[i] for bundle in pages(fhir, f"Observation?_sort={sort}&_count=3") for i in ids(bundle)]

    named = sorted(n for n in dated if n != "none")
    assert order("date") == [*named, "none"]  # no date sorts last either way
    assert order("-date") == [*reversed(named), "none"]
    by_update = sorted(rows, key=lambda pk: (Observation.objects.get(pk=pk).updated_at, pk))
    assert [dated[n] for n in order("_lastUpdated")] == by_update
    assert [dated[n] for n in order("-_lastUpdated")] == list(reversed(by_update))
    assert order("date,-_lastUpdated") == order("date")


def test_summary_count_gives_the_total_without_entries(visit, fhir):
    bundle = fhir.json(f"Observation?patient={visit.patient_id}&_summary=count")

    assert bundle["total"] == len(observation_ids(visit)) == 10
    assert "entry" not in bundle
    assert fhir.json(f"Observation?code={LOINC}|{HEMOGLOBIN}&_summary=count")["total"] == 1
    assert fhir.json(f"Observation?patient={uuid.uuid4()}&_summary=count")["total"] == 0


def test_elements_keeps_the_named_elements_and_marks_the_resource_subsetted(visit, fhir):
    bundle = fhir.json("Observation?_elements=status,code,value[x]&_include=Observation:patient")

    for resource in entries(bundle):
        assert set(resource) <= {"resourceType", "id", "meta", "status", "code", "valueQuantity"}
        assert {"status", "code"} <= set(resource)
        assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"} in (
            resource["meta"]["tag"]
        )
        assert resource["meta"]["versionId"]
    assert any("valueQuantity" in r for r in entries(bundle))
    assert ("_elements", "status,code,value[x]") in query(links(bundle)["self"])


@pytest.fixture
def patients(visit: LabVisit) -> dict[str, str]:
    zoe = register(
        visit.tenant_id,
        mrn="P-1",
        family="Ångström",
        given="Zoë",
        birth_date=datetime.date(1980, 2, 29),
        gender=Gender.FEMALE,
    )
    john = register(
        visit.tenant_id,
        mrn="P-2",
        family="Smith",
        given="John",
        birth_date=datetime.date(1975, 6, 1),
        gender=Gender.MALE,
    )
    return {"zoe": str(zoe.id), "john": str(john.id), "donald": str(visit.patient_id)}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("family=angstrom", ["zoe"]),
        ("family=ÅNG", ["zoe"]),
        ("family:exact=Ångström", ["zoe"]),  # raw UTF-8 in the query
        ("family:exact=%C3%85ngstr%C3%B6m", ["zoe"]),  # percent-encoded
        ("given:exact=Zoë", ["zoe"]),
        ("given:exact=Zoe", []),
        ("family:exact=angstrom", []),
        ("family:contains=mit", ["john"]),
        ("family=mit", []),
        ("given=zoe", ["zoe"]),
        ("given=Don", ["donald"]),
        ("name=smi", ["john"]),
        ("name=jo", ["john"]),
        ("name=duck,zoe", ["donald", "zoe"]),
        ("birthdate=1980-02-29", ["zoe"]),
        ("birthdate=1980", ["zoe"]),
        ("birthdate=1975-06", ["john"]),
        ("birthdate=lt1976", ["john"]),
        ("birthdate=ge1976-01-01", ["zoe"]),
        ("birthdate=ne1980-02-29", ["john"]),
        ("gender=female", ["zoe"]),
        ("gender=male", ["john", "donald"]),
        ("gender=http://hl7.org/fhir/administrative-gender|male", ["john", "donald"]),
        ("gender=http://example.org/gender|male", []),
        ("gender:not=male", ["zoe"]),
        ("identifier=P-2", ["john"]),
        (f"identifier={LAB_MRN}|P-1", ["zoe"]),
        ("identifier=urn:other|P-1", []),
        (f"identifier={LAB_MRN}|10006579", ["donald"]),
        ("family=smith&gender=female", []),
        ("active=true", ["zoe", "john", "donald"]),
    ],
)
def test_patient_search_parameters(fhir, patients, q, expected):
    bundle = fhir.json(f"Patient?{q}")

    assert set(ids(bundle)) == {patients[name] for name in expected}


def test_encounter_identifier_is_the_visit_number(visit, fhir):
    number = visit.encounter.visit_number
    system = f"https://clinic.example/fhir/sid/{visit.clinic.tenant.slug}/visit-number"

    assert ids(fhir.json(f"Encounter?identifier={number}")) == [str(visit.encounter.pk)]
    assert ids(fhir.json(f"Encounter?identifier={system}|{number}")) == [str(visit.encounter.pk)]
    assert ids(fhir.json(f"Encounter?identifier=urn:other|{number}")) == []
    assert ids(fhir.json("Encounter?identifier=V-NOPE")) == []
    resource = fhir.json(f"Encounter/{visit.encounter.pk}")
    assert {"use": "official", "system": system, "value": number} in resource["identifier"]


def test_service_request_identifier_is_the_placer_number(visit, fhir):
    placer = f"https://clinic.example/fhir/sid/{visit.clinic.tenant.slug}/placer-number"
    filler = f"https://clinic.example/fhir/sid/{visit.clinic.tenant.slug}/filler-number"

    assert ids(fhir.json("ServiceRequest?identifier=88502218")) == [str(visit.cbc.pk)]
    assert ids(fhir.json(f"ServiceRequest?identifier={placer}|855238581")) == [str(visit.diff.pk)]
    assert ids(fhir.json(f"ServiceRequest?identifier={filler}|82503246")) == [str(visit.cbc.pk)]  # the lab's
    assert ids(fhir.json(f"ServiceRequest?identifier={filler}|88502218")) == []
    both = set(ids(fhir.json("ServiceRequest?identifier=88502218,855238581")))
    assert both == {str(visit.cbc.pk), str(visit.diff.pk)}


def test_diagnostic_report_based_on_finds_the_report_of_an_order(visit, fhir):
    report = DiagnosticReport.objects.get(tenant_id=visit.tenant_id, order=visit.cbc)

    for value in (str(visit.cbc.pk), f"ServiceRequest/{visit.cbc.pk}", f"{BASE}/ServiceRequest/{visit.cbc.pk}"):
        bundle = fhir.json(f"DiagnosticReport?based-on={value}&_include=DiagnosticReport:based-on")
        assert ids(bundle) == [str(report.pk)]
        assert typed_ids(bundle) == {f"ServiceRequest/{visit.cbc.pk}"}
    assert ids(fhir.json(f"DiagnosticReport?based-on={uuid.uuid4()}")) == []


def test_concept_map_url_and_version(visit, fhir):
    version = ConceptMapVersion.objects.filter(concept_map__tenant_id=visit.tenant_id).select_related("concept_map")[0]
    url, label = version.concept_map.url, version.label

    assert ids(fhir.json(f"ConceptMap?url={url}")) == [str(version.pk)]
    assert ids(fhir.json(f"ConceptMap?url={url}&version={label}")) == [str(version.pk)]
    assert ids(fhir.json(f"ConceptMap?url={url}&version=not-{label}")) == []
    assert ids(fhir.json("ConceptMap?url=urn:nothing")) == []
    resource = fhir.json(f"ConceptMap/{version.pk}")
    assert (resource["url"], resource["version"]) == (url, label)


def test_last_updated_on_one_type(visit, fhir, dated):
    long_ago = timezone.now() - datetime.timedelta(days=400)
    old = [dated["2013-12-31T23:30"], dated["2014-01-01T00:00"]]
    Observation.objects.filter(pk__in=old).update(updated_at=long_ago)
    cutoff = (timezone.now() - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    everything = observation_ids(visit)

    assert set(ids(fhir.json(f"Observation?_lastUpdated=lt{cutoff}&_count=100"))) == set(old)
    assert set(ids(fhir.json(f"Observation?_lastUpdated=ge{cutoff}&_count=100"))) == everything - set(old)
    assert set(ids(fhir.json(f"Observation?_lastUpdated={long_ago:%Y-%m-%d}&_count=100"))) == set(old)
    # Other types are not touched by an Observation's last change.
    assert ids(fhir.json(f"Patient?_lastUpdated=ge{cutoff}")) == [str(visit.patient_id)]


@pytest.mark.parametrize(
    ("path", "include"),
    [
        ("Observation?_include=Observation:patient", "patient"),
        ("Observation?_include=Observation:encounter", "encounter"),
        ("Encounter?_include=Encounter:patient", "patient"),
        ("ServiceRequest?_include=ServiceRequest:patient", "patient"),
        ("DiagnosticReport?_include=DiagnosticReport:based-on", "based-on"),
        ("DiagnosticReport?_include=DiagnosticReport:result", "result"),
        ("DiagnosticReport?_include=DiagnosticReport:result:Observation", "result"),
    ],
)
def test_include_brings_the_resources_the_page_refers_to(visit, fhir, path, include):
    bundle = fhir.json(path)

    referred = set()
    for resource in entries(bundle):
        field = {"patient": "subject", "encounter": "encounter", "based-on": "basedOn", "result": "result"}[include]
        value = resource[field]
        referred |= {r["reference"] for r in (value if isinstance(value, list) else [value])}
    assert referred and typed_ids(bundle) == referred


@pytest.mark.parametrize(
    ("path", "kind", "field"),
    [
        ("Patient?_revinclude=Observation:patient", "Observation", "subject"),
        ("Patient?_revinclude=Encounter:patient", "Encounter", "subject"),
        ("Encounter?_revinclude=Observation:encounter", "Observation", "encounter"),
        ("Patient?_revinclude=ServiceRequest:patient", "ServiceRequest", "subject"),
        ("ServiceRequest?_revinclude=DiagnosticReport:based-on", "DiagnosticReport", "basedOn"),
        ("Observation?_revinclude=DiagnosticReport:result", "DiagnosticReport", "result"),
    ],
)
def test_revinclude_brings_the_resources_that_refer_to_the_page(visit, fhir, path, kind, field):
    bundle = fhir.json(path)

    matched = {f"{r['resourceType']}/{r['id']}" for r in entries(bundle)}
    included = entries(bundle, "include")
    assert included and {r["resourceType"] for r in included} == {kind}
    for resource in included:
        value = resource[field]
        assert {r["reference"] for r in (value if isinstance(value, list) else [value])} & matched
    tenant = visit.tenant_id
    expected = {
        "Observation": Observation.objects.filter(tenant_id=tenant).count(),
        "Encounter": Encounter.objects.filter(tenant_id=tenant).count(),
        "ServiceRequest": ServiceRequest.objects.filter(tenant_id=tenant).count(),
        "DiagnosticReport": DiagnosticReport.objects.filter(tenant_id=tenant).count(),
    }
    assert len(included) == expected[kind]


# --- paging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["", "&_sort=date", "&_sort=-date", "&_sort=_lastUpdated", "&_sort=-_lastUpdated"])
def test_paging_neither_repeats_nor_skips_while_results_are_written_between_pages(visit, fhir, sort):
    add_observations(visit, 10, tag="before")
    existing = observation_ids(visit)
    seen: list[str] = []

    for n, bundle in enumerate(pages(fhir, f"Observation?_count=2{sort}")):
        seen += ids(bundle)
        if n < 6:  # new results arrive (each page's worth and more), an old one is amended
            add_observations(visit, 3, tag=f"page{n}")
            Observation.objects.filter(pk=sorted(existing)[n]).update(value_string=f"amended {n}")

    assert len(seen) == len(set(seen))
    assert existing <= set(seen)


@pytest.mark.parametrize("sort", ["_lastUpdated", "-_lastUpdated", "date", "-date"])
def test_a_result_corrected_while_paging_by_a_changing_key_is_never_skipped(visit, fhir, sort):
    """Sorting by a key a correction moves: every result is served, and the corrected one comes
    again (at its new version) only if it had been served before it changed."""
    erythrocytes = observation(visit, ERYTHROCYTES)
    # Last changed before the others: first by _lastUpdated, last by -_lastUpdated.
    Observation.objects.filter(pk=erythrocytes.pk).update(updated_at=timezone.now() - datetime.timedelta(days=1))
    first = fhir.json(f"Observation?_sort={sort}&_count=2")
    before = [(r["id"], r["meta"]["versionId"]) for r in entries(first)]

    correct(visit)
    later = [
        (r["id"], r["meta"]["versionId"])
        for bundle in pages(fhir, local(links(first)["next"]))
        for r in entries(bundle)
    ]
    served = before + later

    assert {i for i, _ in served} == observation_ids(visit)  # nothing skipped
    repeated = {i for i, _ in served if [j for j, _ in served].count(i) > 1}
    assert repeated <= {str(erythrocytes.pk)}
    if repeated:  # served before its correction, then again as corrected
        assert str(erythrocytes.pk) in {i for i, _ in before}
        versions = [int(v) for i, v in served if i == str(erythrocytes.pk)]
        assert versions == sorted(versions) and versions[-1] > versions[0]
    assert [v for i, v in served if i == str(erythrocytes.pk)][-1] == str(
        Observation.objects.get(pk=erythrocytes.pk).version
    )


def test_paging_with_a_concurrent_writer_neither_repeats_nor_skips(transactional_db):
    visit = charted_visit(slug="w")
    fhir = fhir_client(visit.clinic.tenant)
    existing = observation_ids(visit) | set(add_observations(visit, 30, tag="start"))
    stop = threading.Event()
    written: list[str] = []
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            for n in range(60):  # bounded, so the search ends
                if stop.is_set():
                    return
                written.extend(add_observations(visit, 2, tag=f"w{n}"))
                time.sleep(0.005)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen: list[str] = []
        for page, bundle in enumerate(pages(fhir, "Observation?_count=2&_include=Observation:patient")):
            seen += ids(bundle)
            assert typed_ids(bundle) == {f"Patient/{visit.patient_id}"}
            if page == 3:
                assert written, "the writer should be writing while the pages are read"
            assert page < 500
    finally:
        stop.set()
        thread.join(timeout=30)

    assert not failures, failures
    assert len(written) > 0
    assert len(seen) == len(set(seen))
    assert existing <= set(seen)


def test_include_and_revinclude_are_kept_on_every_page(visit, fhir):
    observation_pages = list(
        pages(fhir, "Observation?_count=2&_include=Observation:patient&_include=Observation:encounter")
    )
    request_pages = list(pages(fhir, "ServiceRequest?_count=1&_revinclude=DiagnosticReport:based-on"))

    assert len(observation_pages) == 5
    for bundle in observation_pages:
        assert len(ids(bundle)) == 2
        assert typed_ids(bundle) == {f"Patient/{visit.patient_id}", f"Encounter/{visit.encounter.pk}"}
        for relation, url in links(bundle).items():
            params = query(url)
            assert ("_include", "Observation:patient") in params, relation
            assert ("_include", "Observation:encounter") in params, relation
            assert ("_count", "2") in params, relation
    assert len(request_pages) == 2
    for bundle in request_pages:
        (request,) = entries(bundle)
        (report,) = entries(bundle, "include")
        assert report["basedOn"] == [{"reference": f"ServiceRequest/{request['id']}"}]
        assert all(("_revinclude", "DiagnosticReport:based-on") in query(url) for url in links(bundle).values())


def test_a_sorted_search_pages_in_order_and_keeps_its_filters(visit, fhir, dated):
    path = f"Observation?patient={visit.patient_id}&date=ge2014&_sort=-date&_count=2"
    found = [i for bundle in pages(fhir, path) for i in ids(bundle)]

    by_date = {v: k for k, v in dated.items()}
    assert [by_date[i] for i in found] == sorted((n for n in dated if "2014" <= n < "none"), reverse=True)


def test_everything_pages_without_repeats_and_covers_the_whole_record(visit, fhir):
    for path in (f"Patient/{visit.patient_id}/$everything", f"Encounter/{visit.encounter.pk}/$everything"):
        whole = fhir.json(f"{path}?_count=1000")
        assert "next" not in links(whole)
        paged = [f"{r['resourceType']}/{r['id']}" for b in pages(fhir, f"{path}?_count=3") for r in entries(b)]
        assert len(paged) == len(set(paged))
        assert set(paged) == typed_ids(whole, "match")
        assert {f"Observation/{o}" for o in observation_ids(visit)} <= set(paged)
        assert f"DiagnosticReport/{DiagnosticReport.objects.filter(tenant_id=visit.tenant_id)[0].pk}" in paged


# --- merged patients -------------------------------------------------------------------------


@pytest.fixture
def merged(visit: LabVisit) -> tuple[str, str]:
    """Donald Duck (with his visit and results) merged into a second record of him: (source,
    survivor)."""
    survivor = register(
        visit.tenant_id, mrn="DUP-1", family="Duck", given="Donald", birth_date=None, gender=Gender.MALE
    )
    with transaction.atomic():
        identity.merge_patients(
            tenant_id=visit.tenant_id,
            source_id=visit.patient_id,
            target_id=survivor.id,
            reason="duplicate",
            actor="test",
        )
    return str(visit.patient_id), str(survivor.id)


def test_a_merged_patient_reads_inactive_with_a_replaced_by_link(visit, fhir, merged):
    source, survivor = merged

    old = fhir.json(f"Patient/{source}")
    new = fhir.json(f"Patient/{survivor}")

    assert old["active"] is False
    assert old["link"] == [{"other": {"reference": f"Patient/{survivor}"}, "type": "replaced-by"}]
    assert new["active"] is True
    assert new["link"] == [{"other": {"reference": f"Patient/{source}"}, "type": "replaces"}]
    assert old["meta"]["versionId"] == "2"  # the merge is a new version of the source
    assert fhir.json(f"Patient/{source}/_history/1")["active"] is True


def test_everything_of_a_merged_patient_points_at_the_survivor(visit, fhir, merged):
    source, survivor = merged

    response = fhir.get(f"Patient/{source}/$everything")

    outcome = outcome_of(response, 422, "processing")
    assert f"Patient/{survivor}" in outcome["issue"][0]["diagnostics"]
    assert response["Location"] == f"{BASE}/Patient/{survivor}/$everything"
    everything = fhir.json(f"Patient/{survivor}/$everything?_count=1000")
    assert {f"Observation/{o}" for o in observation_ids(visit)} <= typed_ids(everything, "match")


def test_a_search_by_a_merged_patient_notes_the_survivor(visit, fhir, merged):
    source, survivor = merged

    for path in (
        f"Observation?patient={source}",
        f"Observation?subject=Patient/{source}&_count=1",
        f"Encounter?patient={source}",
        f"Observation?patient={source}&_summary=count",
    ):
        bundle = fhir.json(path)
        (note,) = notes(bundle)
        assert (note["severity"], note["code"]) == ("information", "informational"), path
        assert f"Patient/{survivor}" in note["diagnostics"], path
        assert entries(bundle) == [], path  # what it had is the survivor's now
    by_survivor = fhir.json(f"Observation?patient={survivor}&_count=100")
    assert set(ids(by_survivor)) == observation_ids(visit)
    assert notes(by_survivor) == []


def test_rows_a_merge_moves_show_as_changed_to_a_client_syncing_by_last_updated(visit, fhir):
    """An analytics client pulls `_lastUpdated=gt<its last sync>`: after a merge it must get the
    results that now belong to the survivor, or its copy keeps them on the merged-away record."""
    since = fhir.json("Observation?_sort=-_lastUpdated&_count=1")["entry"][0]["resource"]["meta"]["lastUpdated"]
    survivor = register(
        visit.tenant_id, mrn="DUP-2", family="Duck", given="Donald", birth_date=None, gender=Gender.MALE
    )
    with transaction.atomic():
        identity.merge_patients(
            tenant_id=visit.tenant_id, source_id=visit.patient_id, target_id=survivor.id, reason="dup", actor="t"
        )

    changed = [r for b in pages(fhir, f"Observation?_lastUpdated=gt{since}&_count=100") for r in entries(b)]
    charges = entries(fhir.json(f"ChargeItem?_lastUpdated=gt{since}&_count=100"))

    assert {r["id"] for r in changed} == observation_ids(visit)
    assert {r["subject"]["reference"] for r in changed} == {f"Patient/{survivor.id}"}
    assert charges and {r["subject"]["reference"] for r in charges} == {f"Patient/{survivor.id}"}


# --- versions --------------------------------------------------------------------------------


def test_a_read_carries_a_weak_etag_of_the_version_and_last_modified(visit, fhir):
    obs = observation(visit, ERYTHROCYTES)

    for path in (f"Observation/{obs.pk}", f"Patient/{visit.patient_id}", f"Encounter/{visit.encounter.pk}"):
        response = fhir.get(path)
        body = response.json()
        assert response["ETag"] == f'W/"{body["meta"]["versionId"]}"', path
        modified = parsedate_to_datetime(response["Last-Modified"])
        updated = datetime.datetime.fromisoformat(body["meta"]["lastUpdated"].replace("Z", "+00:00"))
        assert modified == updated.replace(microsecond=0), path
    assert fhir.get(f"Observation/{obs.pk}")["ETag"] == 'W/"2"'
    version_one = fhir.get(f"Observation/{obs.pk}/_history/1")
    assert version_one["ETag"] == 'W/"1"' and version_one.json()["meta"]["versionId"] == "1"


def test_if_none_match_with_the_current_etag_is_304_and_a_stale_one_200(visit, fhir):
    path = f"Observation/{observation(visit, ERYTHROCYTES).pk}"
    current = fhir.get(path)

    not_modified = fhir.get(path, **{"If-None-Match": current["ETag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == current["ETag"]
    assert fhir.get(path, **{"If-None-Match": '"2"'}).status_code == 304  # weak comparison
    assert fhir.get(path, **{"If-None-Match": 'W/"1", W/"2"'}).status_code == 304
    assert fhir.get(path, **{"If-None-Match": 'W/"1"'}).status_code == 200
    assert fhir.get(path, **{"If-Modified-Since": current["Last-Modified"]}).status_code == 304
    long_ago = "Mon, 06 Oct 2014 00:00:00 GMT"
    assert fhir.get(path, **{"If-Modified-Since": long_ago}).status_code == 200
    # A change after the ETag was taken: the old ETag is stale.
    Observation.objects.filter(pk=path.split("/")[1]).update(version=3)
    assert fhir.get(path, **{"If-None-Match": current["ETag"]}).status_code == 200


def correct(visit: LabVisit) -> None:
    """LAB-ORU-2 again an hour later, the erythrocyte count corrected (OBX-11 C) to 4.10."""
    raw = sample("msfc_LAB-ORU-2.hl7").replace(
        b"|TransformationAgent||", f"|TransformationAgent|{visit.clinic.tenant.slug}|".encode()
    )
    raw = raw.replace(b"20141006093100+0700", b"20141006103100+0700").replace(b"|ControlID|", b"|CORR-1|")
    raw = re.sub(rb"(11273-0\^ERYTHROCYTES\^LN\|\|)4\.08(\|[^|]*\|\|N\|\|\|)F", rb"\g<1>4.10\g<2>C", raw)
    assert b"4.10" in raw
    receipt = receive(raw=raw, transport="mllp", peer="test")
    assert receipt.code == "AA", receipt.ack


def test_a_result_keeps_its_preliminary_final_and_corrected_versions(visit, fhir):
    obs = observation(visit, ERYTHROCYTES)
    charted = fhir.json(f"Observation/{obs.pk}/_history")
    assert [(e["resource"]["meta"]["versionId"], e["resource"]["status"]) for e in charted["entry"]] == [
        ("2", "final"),
        ("1", "preliminary"),
    ]

    correct(visit)

    history = fhir.json(f"Observation/{obs.pk}/_history")

    versions = [e["resource"] for e in history["entry"]]
    assert history["type"] == "history" and history["total"] == 3
    assert [v["meta"]["versionId"] for v in versions] == ["3", "2", "1"]  # newest first
    assert [v["status"] for v in versions] == ["corrected", "final", "preliminary"]
    assert [v["valueQuantity"]["value"] for v in versions] == [4.1, 4.08, 4.06]
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "PUT", "POST"]
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"3"', 'W/"2"', 'W/"1"']
    first = fhir.json(f"Observation/{obs.pk}/_history/1")
    assert first["status"] == "preliminary" and first["valueQuantity"]["value"] == 4.06
    assert fhir.json(f"Observation/{obs.pk}/_history/3") == fhir.json(f"Observation/{obs.pk}")
    report = fhir.json(f"DiagnosticReport/{obs.report_id}/_history")
    report_versions = [int(e["resource"]["meta"]["versionId"]) for e in report["entry"]]
    assert report_versions == sorted(report_versions, reverse=True) and len(report_versions) >= 2


def test_a_patient_update_is_a_new_version_and_the_old_one_stays_readable(visit, fhir):
    with transaction.atomic():
        identity.update_demographics(
            tenant_id=visit.tenant_id,
            patient_id=visit.patient_id,
            demographics=Demographics(
                name=HumanName(family="Dack", given=("Donald", "D")),
                birth_date=datetime.date(1924, 10, 10),
                gender=Gender.MALE,
            ),
            actor="test",
        )

    current = fhir.get(f"Patient/{visit.patient_id}")
    history = fhir.json(f"Patient/{visit.patient_id}/_history")
    first = fhir.json(f"Patient/{visit.patient_id}/_history/1")

    assert current["ETag"] == 'W/"2"'
    assert current.json()["name"][0]["family"] == "Dack" and current.json()["birthDate"] == "1924-10-10"
    assert history["total"] == 2
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert first["name"][0] == {"use": "official", "family": "Duck", "given": ["Donald"]}
    assert "birthDate" not in first
    assert first["identifier"] == current.json()["identifier"]
    assert fhir.json(f"Patient/{visit.patient_id}/_history/2") == current.json()


# --- the CapabilityStatement -----------------------------------------------------------------


def test_the_capability_statement_lists_exactly_the_registered_types_and_their_parameters(visit):
    statement = Client().get("/fhir/metadata")  # public: a client reads it before it has a token

    assert statement.status_code == 200
    body = statement.json()
    assert body["resourceType"] == "CapabilityStatement" and body["fhirVersion"] == "4.0.1"
    (rest,) = body["rest"]
    served = {r["type"]: r for r in rest["resource"]}
    types = list(registry.all_types())
    assert [r["type"] for r in rest["resource"]] == [t.name for t in types]
    for t in types:
        entry = served[t.name]
        assert [p["name"] for p in entry["searchParam"]] == list(t.params), t.name
        assert {p["name"]: p["type"] for p in entry["searchParam"]} == {p.name: p.type for p in t.params.values()}
        assert set(entry.get("searchInclude", [])) == {f"{t.name}:{p}" for p in t.includes}, t.name
        codes = {i["code"] for i in entry["interaction"]}
        assert {"read", "search-type"} <= codes
        assert ("vread" in codes) == t.versioned and ("history-instance" in codes) == (
            t.history is not None or t.versioned
        )
        assert not codes & {"create", "update", "patch", "delete"}
    assert {"Observation:patient", "DiagnosticReport:result", "Observation:encounter"} <= {
        i for r in rest["resource"] for i in r.get("searchInclude", [])
    }
    assert {o["name"] for o in served["Patient"]["operation"]} == {"everything"}
    assert {o["name"] for o in served["Encounter"]["operation"]} == {"everything"}
