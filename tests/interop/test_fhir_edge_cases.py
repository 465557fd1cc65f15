"""FHIR API edge cases a review found: odd input is a 400, never a 500; versions and ETags move
whenever a resource does (results, merges); precise dates match what the API serves; :not, SN
values, identifiers, $everything's own parameters, content negotiation and index use."""

from __future__ import annotations

import base64
import datetime
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import ChargeItem
from clinic.models import ApiClient
from clinic.services import hash_token
from identity import facade as identity
from identity.contracts import Demographics, Gender, HumanName, IdentifierInput
from identity.models import Patient
from interop.fhir import search
from interop.v2.intake import receive
from results.models import DiagnosticReport, Observation
from terminology.models import ConceptMap, ConceptMapVersion
from tests.interop.fhir_support import Fhir, charted_visit, entries, fhir_client
from tests.support.hl7 import LAB_MRN, LabVisit, lab_visit, sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit() -> LabVisit:
    return charted_visit(slug="edge")


@pytest.fixture
def fhir(visit: LabVisit) -> Fhir:
    return fhir_client(visit.clinic.tenant)


def problem(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


def cursor(kind: str, values: list[Any]) -> str:
    raw = json.dumps({"k": kind, "v": values}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- odd input: 400 with a reason, never 500 -----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "Patient?name=a%00b",
        "Patient?family:exact=%00",
        "Observation?status=%00",
        "Observation?code=http://loinc.org|%00",
        "ConceptMap?url=%00",
        "Encounter?identifier=%00",
    ],
)
def test_a_nul_character_in_a_parameter_is_a_400(visit, fhir, path):
    assert "NUL" in problem(fhir.get(path), 400)


@pytest.mark.parametrize("value", ["2024-01-01T10:00:00%2B23:59", "2024-01-01T10:00:00-15:00"])
def test_a_time_zone_no_clock_has_is_a_400(visit, fhir, value):
    assert "time zone" in problem(fhir.get(f"Observation?date={value}"), 400)


@pytest.mark.parametrize(
    "query", ["date=9999-12-31", "date=ge9999-12-31", "date=ne9999-12-31", "date=le9999-12-31T23:59:59.999999Z"]
)
def test_dates_at_the_end_of_time_are_searched_not_refused(visit, fhir, query):
    bundle = fhir.json(f"Observation?{query}&_count=100")
    expected = 10 if query.startswith(("date=ne", "date=le")) else 0
    assert len(entries(bundle)) == expected


def test_a_birthdate_at_the_end_of_time_is_searched(visit, fhir):
    assert entries(fhir.json("Patient?birthdate=ge9999-12-31")) == []


@pytest.mark.parametrize(
    "path",
    [
        "Patient?_cursor=" + cursor("Patient:id", ["not-a-uuid"]),
        "Patient?_cursor=" + cursor("Patient:id", [{"a": 1}]),
        "Organization?_cursor=" + cursor("Organization:id", ["x"]),
        "Observation?_sort=date&_cursor=" + cursor("Observation:effective_at,id", [1, "2024-01-01", "nope", "x"]),
        "Observation?_sort=date&_cursor=" + cursor("Observation:effective_at,id", [1, "yesterday", None, "x"]),
    ],
)
def test_a_damaged_cursor_is_a_400(visit, fhir, path):
    assert "_cursor" in problem(fhir.get(path), 400)


def test_a_damaged_everything_cursor_is_a_400(visit, fhir):
    token = cursor("Patient/$everything", [0, "not-a-uuid"])
    assert "_cursor" in problem(fhir.get(f"Patient/{visit.patient_id}/$everything?_cursor={token}"), 400)


def test_a_chained_parameter_is_refused_not_ignored(visit, fhir):
    """Ignored, it would answer every observation of the clinic."""
    text = problem(fhir.get("Observation?patient.identifier=urn:x|nope"), 400)
    assert "Chained" in text
    assert "Chained" in problem(fhir.get("Patient?_has:Observation:patient:code=1234"), 400)


def test_an_ignored_parameter_is_said_so_in_the_bundle(visit, fhir):
    bundle = fhir.json(f"Observation?patient={visit.patient_id}&colour=blue")
    notes = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "colour" in notes[0]["issue"][0]["diagnostics"]
    assert "colour" not in bundle["link"][0]["url"]


# --- versions and ETags move with the resource ----------------------------------------------------


def test_an_order_a_result_completes_is_a_new_version(visit, fhir):
    """charted_visit charts the CBC's results: its order has the lab's number and is completed."""
    fresh = lab_visit(slug="edge2")
    other = fhir_client(fresh.clinic.tenant)
    assert fresh.cbc is not None
    before = other.get(f"ServiceRequest/{fresh.cbc.pk}")
    raw = sample("msfc_LAB-ORU-2.hl7").replace(b"|TransformationAgent||", b"|TransformationAgent|edge2|")
    assert receive(raw=raw, transport="mllp", peer="test").code == "AA"

    after = other.get(f"ServiceRequest/{fresh.cbc.pk}", **{"If-None-Match": before["ETag"]})

    assert after.status_code == 200
    assert after.json()["status"] == "completed"
    assert after["ETag"] != before["ETag"]


@pytest.fixture
def merged(visit: LabVisit) -> tuple[str, str]:
    with transaction.atomic():
        survivor = identity.register_patient(
            tenant_id=visit.tenant_id,
            identifiers=[IdentifierInput(system=LAB_MRN, value="DUP-9")],
            demographics=Demographics(name=HumanName(family="Duck", given=("Donald",)), gender=Gender.MALE),
            confirm_new=True,
            actor="test",
        ).patient
    with transaction.atomic():
        identity.merge_patients(
            tenant_id=visit.tenant_id, source_id=visit.patient_id, target_id=survivor.id, reason="dup", actor="t"
        )
    return str(visit.patient_id), str(survivor.id)


def test_a_result_a_merge_moves_gets_a_new_etag(visit, fhir):
    observation = Observation.objects.filter(tenant_id=visit.tenant_id).first()
    assert observation is not None
    before = fhir.get(f"Observation/{observation.pk}")
    with transaction.atomic():
        survivor = identity.register_patient(
            tenant_id=visit.tenant_id,
            identifiers=[IdentifierInput(system=LAB_MRN, value="DUP-8")],
            demographics=Demographics(name=HumanName(family="Duck", given=("Donald",)), gender=Gender.MALE),
            confirm_new=True,
            actor="test",
        ).patient
        identity.merge_patients(
            tenant_id=visit.tenant_id, source_id=visit.patient_id, target_id=survivor.id, reason="dup", actor="t"
        )

    after = fhir.get(f"Observation/{observation.pk}", **{"If-None-Match": before["ETag"]})

    assert after.status_code == 200  # not 304: its subject changed
    assert after.json()["subject"]["reference"] == f"Patient/{survivor.id}"


def test_patient_versions_keep_the_identifiers_and_links_they_had(visit, fhir, merged):
    source, survivor = merged

    source_v1 = fhir.json(f"Patient/{source}/_history/1")
    survivor_v1 = fhir.json(f"Patient/{survivor}/_history/1")
    survivor_now = fhir.json(f"Patient/{survivor}")

    assert "10006579" in {i["value"] for i in source_v1["identifier"]}  # its MRN, before it moved
    assert [i["value"] for i in survivor_v1["identifier"] if i["system"] == LAB_MRN] == ["DUP-9"]
    assert "link" not in survivor_v1  # it replaced nobody then
    assert survivor_now["link"] == [{"other": {"reference": f"Patient/{source}"}, "type": "replaces"}]
    history = fhir.json(f"Patient/{survivor}/_history")
    updated = [e["resource"]["meta"]["lastUpdated"] for e in history["entry"]]
    assert updated == sorted(updated, reverse=True)  # newest first, each when it was made


def test_an_unversioned_type_has_an_etag_finer_than_last_modified(visit, fhir):
    charge = ChargeItem.objects.filter(tenant_id=visit.tenant_id).first()
    assert charge is not None
    before = fhir.get(f"ChargeItem/{charge.pk}")
    ChargeItem.objects.filter(pk=charge.pk).update(updated_at=charge.updated_at + datetime.timedelta(milliseconds=3))

    assert fhir.get(f"ChargeItem/{charge.pk}", **{"If-None-Match": before["ETag"]}).status_code == 200
    again = fhir.get(f"ChargeItem/{charge.pk}")
    assert fhir.get(f"ChargeItem/{charge.pk}", **{"If-None-Match": again["ETag"]}).status_code == 304


# --- search semantics ------------------------------------------------------------------------------


def test_last_updated_as_served_finds_the_resource(visit, fhir):
    observation = Observation.objects.filter(tenant_id=visit.tenant_id).first()
    assert observation is not None
    served = fhir.json(f"Observation/{observation.pk}")["meta"]["lastUpdated"]

    for query, found in (("eq", True), ("le", True), ("gt", False), ("lt", False), ("ge", True)):
        ids = {r["id"] for r in entries(fhir.json(f"Observation?_lastUpdated={query}{served}&_count=100"))}
        assert (str(observation.pk) in ids) is found, query


def test_not_excludes_every_value_given(visit, fhir):
    every = {r["id"] for r in entries(fhir.json("Observation?_count=100"))}
    statuses = {r["status"] for r in entries(fhir.json("Observation?_count=100"))}

    assert entries(fhir.json(f"Observation?status:not={','.join(statuses)}")) == []
    assert {r["id"] for r in entries(fhir.json("Observation?status:not=http://example.org|final&_count=100"))} == every
    assert {r["id"] for r in entries(fhir.json("Observation?status:not=registered&_count=100"))} == every


def test_a_report_is_found_by_the_accession_it_is_served_with(visit, fhir):
    report = DiagnosticReport.objects.filter(tenant_id=visit.tenant_id).exclude(accession="").first()
    assert report is not None
    served = fhir.json(f"DiagnosticReport/{report.pk}")["identifier"]
    accession = next(i for i in served if "/accession/" in i["system"])

    by_system = entries(fhir.json(f"DiagnosticReport?identifier={accession['system']}|{accession['value']}"))
    bare = entries(fhir.json(f"DiagnosticReport?identifier={accession['value']}"))
    other_lab = entries(fhir.json(f"DiagnosticReport?identifier={accession['system']}X|{accession['value']}"))

    assert [r["id"] for r in by_system] == [str(report.pk)]
    assert str(report.pk) in {r["id"] for r in bare}
    assert other_lab == []


def test_a_concept_map_is_found_by_the_name_it_is_served_with(visit, fhir):
    version = ConceptMapVersion.objects.filter(published_at__isnull=False).select_related("concept_map").first()
    assert version is not None
    served = fhir.json(f"ConceptMap/{version.pk}")["name"]

    assert str(version.pk) in {r["id"] for r in entries(fhir.json(f"ConceptMap?name={served}"))}
    assert str(version.pk) in {r["id"] for r in entries(fhir.json(f"ConceptMap?name:exact={served}"))}


@pytest.mark.parametrize(
    ("comparator", "low", "separator", "high", "expected"),
    [
        ("<>", "5", "", None, {"valueString": "<>5"}),
        ("", "2", "+", None, {"valueString": "2+"}),
        (
            ">",
            "1",
            ":",
            "128",
            {"valueRatio": {"numerator": {"value": 1, "comparator": ">"}, "denominator": {"value": 128}}},
        ),
        (">", "1", "-", "5", {"valueString": ">1-5"}),
        ("<=", "0.5", "", None, {"comparator": "<="}),
    ],
)
def test_a_structured_numeric_keeps_its_meaning(visit, fhir, comparator, low, separator, high, expected):
    observation = Observation.objects.filter(tenant_id=visit.tenant_id).first()
    assert observation is not None
    Observation.objects.filter(pk=observation.pk).update(
        value_type="SN",
        value_comparator=comparator,
        value_quantity=Decimal(low),
        value_separator=separator,
        value_high=Decimal(high) if high else None,
    )

    served = fhir.json(f"Observation/{observation.pk}")

    if "comparator" in expected:
        assert served["valueQuantity"]["comparator"] == expected["comparator"]
    else:
        ((key, value),) = expected.items()
        assert served[key] == value
        assert "valueQuantity" not in served


# --- $everything's own parameters --------------------------------------------------------------


def test_everything_takes_type_and_since(visit, fhir):
    path = f"Patient/{visit.patient_id}/$everything"
    only = fhir.json(f"{path}?_type=Observation,DiagnosticReport&_count=1000")
    types = {e["resource"]["resourceType"] for e in only["entry"]}
    later = (timezone.now() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert types == {"Observation", "DiagnosticReport"}
    assert "_type=Observation,DiagnosticReport" in only["link"][0]["url"]
    assert "entry" not in fhir.json(f"{path}?_since={later}")
    assert "start" in problem(fhir.get(f"{path}?start=2020-01-01"), 400)
    assert "Nope" in problem(fhir.get(f"{path}?_type=Nope"), 400)


# --- content negotiation -----------------------------------------------------------------------


def test_an_accept_without_json_is_406(visit, fhir):
    assert fhir.get("metadata", Accept="application/fhir+xml").status_code == 406
    assert fhir.get(f"Patient/{visit.patient_id}", Accept="application/xml").status_code == 406
    assert fhir.get(f"Patient/{visit.patient_id}", Accept="application/fhir+json").status_code == 200
    assert fhir.get(f"Patient/{visit.patient_id}", Accept="text/html,*/*;q=0.8").status_code == 200
    assert fhir.get(f"Patient/{visit.patient_id}?_format=json", Accept="application/xml").status_code == 200


# --- sorted paging and late commits ------------------------------------------------------------


def test_a_row_stamped_before_the_first_page_but_committed_after_is_still_served(visit, fhir, settings):
    """A transaction stamps updated_at at save and commits later: with the grace, a row whose
    stamp is just before the search's start counts as changed since, so phase 2 serves it."""
    settings.CLINIC_FHIR_PAGING_GRACE_SECONDS = 5
    Observation.objects.filter(tenant_id=visit.tenant_id).update(
        updated_at=timezone.now() - datetime.timedelta(hours=1)
    )
    every = {str(pk) for pk in Observation.objects.filter(tenant_id=visit.tenant_id).values_list("pk", flat=True)}
    first = fhir.json("Observation?_sort=date&_count=3")
    seen = [r["id"] for r in entries(first)]
    late = Observation.objects.filter(tenant_id=visit.tenant_id).exclude(pk__in=seen).first()
    assert late is not None
    # It moves before the cursor, stamped two seconds ago (its transaction ran that long).
    Observation.objects.filter(pk=late.pk).update(
        effective_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
        updated_at=timezone.now() - datetime.timedelta(seconds=2),
    )
    following = first["link"][1]["url"].split("/fhir/", 1)[1]
    while following:
        page = fhir.json(following)
        seen += [r["id"] for r in entries(page)]
        following = next((link["url"].split("/fhir/", 1)[1] for link in page["link"] if link["relation"] == "next"), "")

    assert set(seen) == every


# --- index use ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "index"),
    [
        ("Patient?family=duc", "patient_family_prefix"),
        ("Patient?given=don", "patient_given_prefix"),
        ("ChargeItem?_sort=occurrence", "charge_by_occurrence"),
        ("ServiceRequest?_sort=authored", "order_by_authored"),
        ("DiagnosticReport?identifier=https://clinic.example/fhir/sid/edge/filler-number|1", "report_by_filler_number"),
    ],
)
def test_searches_can_use_an_index(visit, fhir, path, index):
    # Enough other patients that an index on the tenant alone is no longer as good.
    Patient.objects.bulk_create(
        Patient(tenant_id=visit.tenant_id, family=f"p{n}", family_key=f"p{n:05d}", given_key=f"g{n:05d}")
        for n in range(3000)
    )
    # And enough reports of this tenant that its own index is no longer as good: with only a
    # handful, fresh statistics (other tests chart many reports) make the planner take it.
    template = DiagnosticReport.objects.filter(tenant_id=visit.tenant_id).first()
    DiagnosticReport.objects.bulk_create(
        DiagnosticReport(
            tenant_id=visit.tenant_id,
            patient_id=template.patient_id,
            sending_facility="BULK",
            filler_number=f"B{n:05d}",
            accession=f"B{n:05d}",
            code_key="LN|1",
            coded={},
            status="final",
            content_sha256="0" * 64,
        )
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE identity_patient")
        cursor.execute("ANALYZE results_diagnosticreport")
    with CaptureQueriesContext(connection) as queries:
        fhir.json(path)
    table = {
        "Patient": "identity_patient",
        "ChargeItem": "billing_chargeitem",
        "ServiceRequest": "orders_servicerequest",
    }
    table |= {"DiagnosticReport": "results_diagnosticreport"}
    wanted = table[path.split("?")[0]]
    sql = next(q["sql"] for q in queries.captured_queries if f'FROM "{wanted}"' in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        if "_sort=" in path:  # on a few rows a full sort ties with the index's order: prefer the order
            cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan


# --- claims of docs/fhir.md -----------------------------------------------------------------------


def test_a_revoked_token_stops_working_within_the_cache_time(visit, fhir, settings):
    settings.CLINIC_FHIR_TOKEN_CACHE_SECONDS = 0.5
    assert fhir.get("Organization").status_code == 200  # remembered from here
    ApiClient.objects.filter(token_sha256=hash_token(fhir.token)).update(is_active=False)

    still = fhir.get("Organization").status_code
    time.sleep(0.6)
    after = fhir.get("Organization").status_code

    assert (still, after) == (200, 401)


def test_a_revinclude_stops_at_its_cap_and_says_so(visit, fhir, monkeypatch):
    monkeypatch.setattr(search, "MAX_REVINCLUDE", 3)
    bundle = fhir.json(f"Patient?_id={visit.patient_id}&_revinclude=Observation:patient")

    included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    notes = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(included) == 3
    assert notes and notes[0]["issue"][0]["code"] == "too-costly"


def test_sa_and_eb_mean_starts_after_and_ends_before(visit, fhir):
    dates = sorted(
        (o.effective_at, str(o.pk)) for o in Observation.objects.filter(tenant_id=visit.tenant_id) if o.effective_at
    )
    day = dates[0][0].date().isoformat()
    on_day = {pk for when, pk in dates if when.date().isoformat() == day}
    after = {pk for when, pk in dates if when.date().isoformat() > day}
    before = {pk for when, pk in dates if when.date().isoformat() < day}

    assert {r["id"] for r in entries(fhir.json(f"Observation?date=sa{day}&_count=100"))} == after
    assert {r["id"] for r in entries(fhir.json(f"Observation?date=eb{day}&_count=100"))} == before
    assert on_day and not on_day & after


def test_everything_caps_count_and_links_the_cap(visit, fhir):
    bundle = fhir.json(f"Patient/{visit.patient_id}/$everything?_count=5000")
    assert "_count=1000" in bundle["link"][0]["url"]
    assert "_count" in problem(fhir.get(f"Patient/{visit.patient_id}/$everything?_count=0"), 400)


def test_head_answers_like_get_without_a_body(visit, fhir):
    got = fhir.get(f"Patient/{visit.patient_id}")
    head = fhir.client.head(f"/fhir/Patient/{visit.patient_id}", HTTP_AUTHORIZATION=f"Bearer {fhir.token}")

    assert head.status_code == 200
    assert head.content == b""
    assert head["ETag"] == got["ETag"]


def test_shared_concept_maps_are_every_clinics_and_a_clinics_own_only_its(visit, fhir):

    other = charted_visit(slug="edge-other")
    own = ConceptMap.objects.create(tenant_id=other.tenant_id, name="their-map", url="urn:their-map")
    version = ConceptMapVersion.objects.create(concept_map=own, label="1", published_at=timezone.now())
    shared = ConceptMapVersion.objects.filter(concept_map__tenant__isnull=True, published_at__isnull=False).first()
    assert shared is not None

    mine = {r["id"] for r in entries(fhir.json("ConceptMap?_count=1000"))}
    theirs = {r["id"] for r in entries(fhir_client(other.clinic.tenant).json("ConceptMap?_count=1000"))}

    assert str(shared.pk) in mine and str(shared.pk) in theirs
    assert str(version.pk) in theirs and str(version.pk) not in mine
    assert fhir.get(f"ConceptMap/{version.pk}").status_code == 404


def test_a_search_by_a_patient_it_shows_asks_nothing_about_merges(visit, fhir):
    """The common search (a patient's results) costs its one query: the merge check runs only
    for a referenced patient the page has no row of."""
    with CaptureQueriesContext(connection) as queries:
        bundle = fhir.json(f"Observation?patient={visit.patient_id}&_count=100")

    assert entries(bundle)
    assert [q["sql"] for q in queries.captured_queries if 'FROM "identity_patient"' in q["sql"]] == []
    assert len([q for q in queries.captured_queries if 'FROM "results_observation"' in q["sql"]]) == 1
