"""The FHIR conformance gaps third-party clients found (issue 18, point 6), each proved on results
charted here from messages written here: filters that would be ignored are refused, ``:missing``
works on every parameter, ``_sort`` on the indexed token, string and reference parameters, a
304 has no Content-Type, and specimens, report notes and performing laboratories are served."""

from __future__ import annotations

from typing import Any

import pytest

from interop.fhir import registry
from interop.fhir.search import REFUSED
from interop.v2.intake import receive
from tests.interop.fhir_support import Fhir, entries, fhir_client
from tests.interop.test_fhir_conformance import conformance_problems
from tests.support.hl7 import LabVisit, lab_visit

pytestmark = pytest.mark.django_db


def oru(
    control_id: str,
    *,
    placer: str,
    filler: str,
    observations: tuple[str, ...],
    spm: str = "",
    notes: tuple[str, ...] = (),
) -> bytes:
    lines = [
        f"MSH|^~\\&|LIS|SomeSystem|CLINIC||20260301101500||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        "PID|1||10006579^^^1^MR||Duck^Donald||19600101|M",
        f"ORC|RE|{placer}|{filler}",
        f"OBR|1|{placer}|{filler}|24317-0^Hemogram^LN|||20260301090000|||||||||||||||20260301100000|||F",
        *(f"NTE|{i}|L|{note}" for i, note in enumerate(notes, start=1)),
        *observations,
        *([spm] if spm else []),
    ]
    return ("\r".join(lines) + "\r").encode()


PERFORMER = "Regional Reference Lab^L^^^^CLIA&2.16.840.1.113883.4.7&ISO^XX^^^05D1234567"
CBC_OBX = (
    # OBX-14 observed, OBX-19 analysed, OBX-23 performing laboratory, OBX-24 its address
    f"OBX|1|NM|718-7^Hemoglobin^LN||13.4|g/dL^^UCUM|12-16|N|||F|||20260301090000|||||20260301095500||||{PERFORMER}"
    "|1 Lab Road^^Leeds^^LS1 1AA^GBR",
    "OBX|2|NM|789-8^Erythrocytes^LN||4.6|10*12/L^^UCUM|4.2-5.4|N|||F",
)
SPM = "SPM|1|SPEC-42&LAB||119297000^Blood specimen^SCT|||||||||||||20260301083000|20260301091500"


@pytest.fixture
def visit() -> LabVisit:
    """Donald Duck's visit: the FBC charted with its specimen, notes and performing lab; and an
    unsolicited result (no order here, no visit) charted from a lab that charts them."""
    visit = lab_visit(slug="gaps")
    visit.partner.unsolicited_results = "chart"
    visit.partner.save()
    for raw in (
        oru(
            "F-1",
            placer=visit.cbc.placer_number,
            filler="LAB-1",
            observations=CBC_OBX,
            spm=SPM,
            notes=("Sample slightly haemolysed.", "Repeat if clinically indicated."),
        ),
        oru("F-2", placer="", filler="EXT-9", observations=("OBX|1|NM|2345-7^Glucose^LN||5.1|mmol/L^^UCUM|||||F",)),
    ):
        receipt = receive(raw=raw, transport="mllp", peer="test")
        assert receipt.code == "AA" and receipt.status == "processed", receipt.ack
    return visit


@pytest.fixture
def fhir(visit: LabVisit) -> Fhir:
    return fhir_client(visit.clinic.tenant)


def count(fhir: Fhir, query: str) -> int:
    total: int = fhir.json(f"{query}{'&' if '?' in query else '?'}_summary=count")["total"]
    return total


def problem(response: Any) -> str:
    assert response.status_code == 400, (response.status_code, response.content[:500])
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


# --- Filters that would be ignored are refused ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFUSED))
@pytest.mark.parametrize("type_name", ["Observation", "Patient"])
def test_a_filter_we_do_not_support_is_a_400_not_every_row(fhir, name, type_name):
    text = problem(fhir.get(f"{type_name}?{name}=anything"))

    assert name in text and "refused" in text


# --- :missing on every parameter ------------------------------------------------------------------


def every_parameter() -> list[tuple[str, str]]:
    return [(t.name, p) for t in registry.all_types() for p in t.params]


@pytest.mark.parametrize(("type_name", "name"), every_parameter())
def test_missing_works_on_every_parameter_and_splits_the_rows_in_two(fhir, type_name, name):
    assert registry.get(type_name).params[name].missing is not None

    missing = count(fhir, f"{type_name}?{name}:missing=true")
    present = count(fhir, f"{type_name}?{name}:missing=false")

    assert missing + present == count(fhir, type_name)


def test_missing_finds_the_results_without_an_encounter_or_an_order(fhir, visit):
    unsolicited = entries(fhir.json("Observation?encounter:missing=true"))
    on_the_visit = entries(fhir.json("Observation?encounter:missing=false"))

    assert [o["code"]["coding"][0]["code"] for o in unsolicited] == ["2345-7"]
    assert {o["encounter"]["reference"] for o in on_the_visit} == {f"Encounter/{visit.encounter.pk}"}
    assert len(entries(fhir.json("DiagnosticReport?based-on:missing=true"))) == 1
    assert count(fhir, "DiagnosticReport?result:missing=true") == 0
    assert count(fhir, "Patient?identifier:missing=true") == 0


def test_missing_takes_true_or_false_only(fhir):
    assert "true or false" in problem(fhir.get("Observation?encounter:missing=maybe"))


# --- _sort on the indexed token, string and reference parameters ----------------------------------


@pytest.mark.parametrize(("type_name", "sort"), [(t.name, s) for t in registry.all_types() for s in t.sorts])
def test_every_sort_the_registry_offers_works_both_ways(fhir, type_name, sort):
    for direction in ("", "-"):
        response = fhir.get(f"{type_name}?_sort={direction}{sort}")
        assert response.status_code == 200, (sort, response.content[:300])


def test_observations_sort_by_code_and_page_without_losing_or_repeating_one(fhir):
    codes = [o["code"]["coding"][0]["code"] for o in entries(fhir.json("Observation?_sort=-code"))]
    assert codes == sorted(codes, reverse=True) and len(codes) == 3

    seen, path = [], "Observation?_sort=code&_count=1"
    while path:
        bundle = fhir.json(path.split("/fhir/", 1)[-1])
        seen += [o["id"] for o in entries(bundle)]
        path = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), "")
    assert len(seen) == len(set(seen)) == 3


def test_reports_sort_by_encounter_with_the_ones_without_last(fhir, visit):
    reports = entries(fhir.json("DiagnosticReport?_sort=encounter"))

    assert [r.get("encounter", {}).get("reference") for r in reports] == [f"Encounter/{visit.encounter.pk}", None]


def test_the_capability_statement_lists_the_sorts_and_the_refused_parameters(fhir):
    statement = fhir.json("metadata")
    (observation,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Observation"]

    assert "code, date, encounter, patient, subject" in observation["documentation"]
    assert ":missing" in statement["rest"][0]["documentation"]
    assert all(name in statement["rest"][0]["documentation"] for name in REFUSED)


# --- 304 -----------------------------------------------------------------------------------------


def test_a_304_carries_no_content_type(fhir, visit):
    first = fhir.get(f"Patient/{visit.patient_id}")

    again = fhir.get(f"Patient/{visit.patient_id}", **{"If-None-Match": first["ETag"]})

    assert again.status_code == 304 and not again.content
    assert "Content-Type" not in again
    assert again["ETag"] == first["ETag"]


# --- Specimen, report notes and the performing laboratory are served -------------------------------


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, after checking it against the R4B structures as every FHIR test does."""
    assert conformance_problems(resource) == []
    return resource


def the_fbc(fhir: Fhir, visit: LabVisit) -> dict[str, Any]:
    (report,) = entries(fhir.json(f"DiagnosticReport?based-on=ServiceRequest/{visit.cbc.pk}"))
    return report


def test_the_specimen_of_a_report_is_a_specimen_resource(fhir, visit):
    report = the_fbc(fhir, visit)

    specimen = valid(fhir.json(report["specimen"][0]["reference"]))

    assert specimen["identifier"][0]["value"] == "SPEC-42"
    assert specimen["accessionIdentifier"]["value"] == "LAB-1"
    assert specimen["type"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "119297000",
        "display": "Blood specimen",
    }
    assert specimen["collection"]["collectedDateTime"] == "2026-03-01T08:30:00.000Z"
    assert specimen["receivedTime"] == "2026-03-01T09:15:00.000Z"
    assert specimen["subject"]["reference"] == f"Patient/{visit.patient_id}"
    assert specimen["request"] == [{"reference": f"ServiceRequest/{visit.cbc.pk}"}]


def test_specimens_are_searched_included_and_listed(fhir, visit):
    report = the_fbc(fhir, visit)
    specimen_ref = report["specimen"][0]["reference"]

    by_patient = entries(fhir.json(f"Specimen?patient={visit.patient_id}"))
    by_type = entries(fhir.json("Specimen?type=http://snomed.info/sct|119297000"))
    included = entries(fhir.json(f"DiagnosticReport?_id={report['id']}&_include=DiagnosticReport:specimen"), "include")
    everything = entries(fhir.json(f"Patient/{visit.patient_id}/$everything"))

    assert [f"Specimen/{s['id']}" for s in by_patient] == [specimen_ref]  # the unsolicited result had no SPM
    assert [f"Specimen/{s['id']}" for s in by_type] == [specimen_ref]
    assert [f"Specimen/{s['id']}" for s in included] == [specimen_ref]
    assert specimen_ref in {f"{r['resourceType']}/{r['id']}" for r in everything}
    assert count(fhir, "Specimen?accession=LAB-1") == 1 and count(fhir, "Specimen?type=0000") == 0
    (listed,) = [r for r in fhir.json("metadata")["rest"][0]["resource"] if r["type"] == "Specimen"]
    assert {p["name"] for p in listed["searchParam"]} >= {"patient", "accession", "type"}
    assert "DiagnosticReport:specimen" in {
        i for r in fhir.json("metadata")["rest"][0]["resource"] for i in r.get("searchInclude", [])
    }


def test_the_notes_after_the_obr_are_the_reports_conclusion(fhir, visit):
    report = valid(the_fbc(fhir, visit))

    assert report["conclusion"] == "Sample slightly haemolysed.\nRepeat if clinically indicated."


def test_the_performing_laboratory_is_the_observations_performer(fhir, visit):
    (haemoglobin,) = entries(fhir.json("Observation?code=http://loinc.org|718-7"))
    (erythrocytes,) = entries(fhir.json("Observation?code=http://loinc.org|789-8"))

    valid(haemoglobin)
    assert haemoglobin["performer"] == [{"reference": "#performer", "display": "Regional Reference Lab"}]
    assert haemoglobin["contained"] == [
        {
            "resourceType": "Organization",
            "id": "performer",
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.7", "value": "05D1234567"}],
            "name": "Regional Reference Lab",
            "address": [{"text": "1 Lab Road, Leeds, LS1 1AA, GBR"}],
        }
    ]
    assert haemoglobin["specimen"] == {"reference": the_fbc(fhir, visit)["specimen"][0]["reference"]}
    assert "performer" not in erythrocytes and "contained" not in erythrocytes  # OBX-23 was empty
