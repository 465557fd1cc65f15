"""python manage.py load_synthea: Synthea bundles become patients, encounters, reports and
observations, through the facades, once."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from clinic.models import OutboxEvent
from encounters.models import Encounter
from identity.models import Patient, PatientIdentifier
from interop.synthea import SYNTHEA_SYSTEM, visit_number
from results.models import DiagnosticReport, HeldResult, Observation
from tests.support.visit import make_clinic

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parent / "samples" / "synthea"
BUSTER = SAMPLES / "Buster_Hoeger_ad2e3fc5.json"
CLEMENTE = SAMPLES / "Clemente_Kreiger_1484a42d.json"


def load(*args: str | Path) -> str:
    out = io.StringIO()
    call_command("load_synthea", *map(str, args), stdout=out)
    return out.getvalue()


def counts(tenant) -> tuple[int, int, int, int]:
    return (
        Patient.objects.filter(tenant=tenant).count(),
        Encounter.objects.filter(tenant=tenant).count(),
        DiagnosticReport.objects.filter(tenant=tenant).count(),
        Observation.objects.filter(tenant=tenant).count(),
    )


def resources(path: Path, kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(path.read_text())["entry"] if e["resource"]["resourceType"] == kind]


def test_a_bundle_becomes_its_patient_encounters_reports_and_observations():
    clinic = make_clinic(days=0)
    reports = resources(BUSTER, "DiagnosticReport")
    listed = {r["reference"] for report in reports for r in report["result"]}
    vitals = [o for o in resources(BUSTER, "Observation") if o["category"][0]["coding"][0]["code"] == "vital-signs"]

    output = load("--tenant", clinic.tenant.slug, BUSTER)

    # 2 DiagnosticReports (CBC, lipid panel) + one vital-signs report for each of the 3 encounters
    # with vital signs; 15 listed lab results + 12 vital signs + 3 blood pressures as 2 components.
    assert (len(reports), len(listed), len(vitals)) == (2, 15, 15)
    assert counts(clinic.tenant) == (1, 6, 5, 33)
    assert len(resources(BUSTER, "Encounter")) == 6
    assert not HeldResult.objects.filter(tenant=clinic.tenant).exists()
    assert "created: patients 1, encounters 6, reports 5, observations 33;" in output
    assert "Claim 7" in output and "ExplanationOfBenefit 6" in output
    assert "Observation 3" in output  # the smoking-status surveys


def test_a_lab_result_is_charted_with_its_value_and_unit_in_its_encounter():
    clinic = make_clinic(days=0)

    load("--tenant", clinic.tenant.slug, BUSTER)

    patient = Patient.objects.get(tenant=clinic.tenant)
    assert (patient.family, patient.given, str(patient.birth_date)) == ("Hoeger", ["Buster"], "1988-03-16")
    systems = set(PatientIdentifier.objects.filter(patient=patient).values_list("system__uri", "value"))
    assert (SYNTHEA_SYSTEM, "ad2e3fc5-2b5d-4cb9-8d03-9ea0f4ac8423") in systems
    assert len(systems) == 2  # and the tenant's own MRN, minted
    hemoglobin = Observation.objects.get(tenant=clinic.tenant, loinc="718-7")
    assert hemoglobin.value_type == "NM"
    assert hemoglobin.value_quantity == Decimal("15.53572084")  # 15.535720840861128 g/dL
    assert (hemoglobin.unit, hemoglobin.unit_ucum, hemoglobin.status) == ("g/dL", "g/dL", "final")
    assert hemoglobin.patient_id == patient.pk
    report = DiagnosticReport.objects.get(pk=hemoglobin.report_id)
    assert (report.accession, report.status) == ("ccd5e376-57f4-4b5d-8d05-92bb3165e45e", "final")
    assert hemoglobin.encounter_id is not None
    encounter = Encounter.objects.get(pk=hemoglobin.encounter_id)
    assert encounter.visit_number == visit_number("d3b6c9b3-ae8c-4247-b7a8-9d548567a859")
    assert (encounter.status, encounter.site_id, encounter.period_start.year) == ("finished", clinic.site.pk, 2016)
    systolic = Observation.objects.filter(tenant=clinic.tenant, loinc="8480-6", encounter=encounter).get()
    assert systolic.unit_ucum == "mm[Hg]"
    assert DiagnosticReport.objects.get(pk=systolic.report_id).coded["original"]["code"] == "85353-1"


def test_loading_the_same_bundles_again_creates_nothing():
    clinic = make_clinic(days=0)
    load("--tenant", clinic.tenant.slug, SAMPLES)
    after_first = (*counts(clinic.tenant), OutboxEvent.objects.filter(tenant_id=clinic.tenant.pk).count())

    output = load("--tenant", clinic.tenant.slug, BUSTER, CLEMENTE)

    assert after_first[:4] == (2, 9, 12, 33 + 30 + 18)
    assert (*counts(clinic.tenant), OutboxEvent.objects.filter(tenant_id=clinic.tenant.pk).count()) == after_first
    assert output.count("created: patients 0, encounters 0, reports 0, observations 0;") == 2
    assert "already loaded: patients 1, encounters 6, reports 5, observations 33;" in output


def test_bad_input_is_refused_clearly_and_loads_nothing(tmp_path):
    clinic = make_clinic(days=0)
    slug = clinic.tenant.slug
    not_json = tmp_path / "broken.json"
    not_json.write_text('{"resourceType": "Bundle", "entry": [')
    not_a_bundle = tmp_path / "patient.json"
    not_a_bundle.write_text(json.dumps(resources(BUSTER, "Patient")[0]))

    with pytest.raises(CommandError, match="No tenant 'nowhere'"):
        load("--tenant", "nowhere", BUSTER)
    with pytest.raises(CommandError, match=r"missing\.json: no such file"):
        load("--tenant", slug, BUSTER, tmp_path / "missing.json")
    with pytest.raises(CommandError, match=r"broken\.json: is not JSON"):
        load("--tenant", slug, BUSTER, not_json)
    with pytest.raises(CommandError, match=r"is not a FHIR Bundle \(resourceType 'Patient'\)"):
        load("--tenant", slug, not_a_bundle)

    assert counts(clinic.tenant) == (0, 0, 0, 0)  # BUSTER, named first, was not loaded either


def _date_that_is_not_one(bundle: dict[str, Any]) -> None:
    # In the second report (the lipid panel): the first one is charted before the error.
    cholesterol = next(
        e["resource"] for e in bundle["entry"] if e["resource"].get("code", {}).get("text") == "Total Cholesterol"
    )
    cholesterol["effectiveDateTime"] = "yesterday"


def _components_that_are_not_a_list(bundle: dict[str, Any]) -> None:
    pressures = [
        e["resource"] for e in bundle["entry"] if e["resource"].get("code", {}).get("text") == "Blood Pressure"
    ]
    pressures[-1]["component"] = 120


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_date_that_is_not_one, r"'yesterday' is not a FHIR dateTime\. Nothing of this bundle was loaded"),
        (_components_that_are_not_a_list, r"Observation [0-9a-f-]+: malformed \(TypeError: .*\)\. Nothing of this"),
    ],
)
def test_a_bundle_that_fails_half_way_leaves_no_rows(tmp_path, breakage, message):
    clinic = make_clinic(days=0)
    bundle = json.loads(BUSTER.read_text())
    breakage(bundle)
    broken = tmp_path / "buster.json"
    broken.write_text(json.dumps(bundle))

    with pytest.raises(CommandError, match=message):
        load("--tenant", clinic.tenant.slug, broken)

    assert counts(clinic.tenant) == (0, 0, 0, 0)
    assert not OutboxEvent.objects.filter(tenant_id=clinic.tenant.pk).exists()
