"""The FHIR R4 read API: reads, searches, versions, paging, merges, auth and tenancy, and every
resource it emits validates against the R4 structures (fhir.resources.R4B)."""

from __future__ import annotations

import pytest

from results.models import DiagnosticReport, Observation
from tests.interop.fhir_support import charted_visit, entries, fhir_client

pytestmark = pytest.mark.django_db


def test_observation_search_by_patient_returns_the_charted_results():
    visit = charted_visit()
    fhir = fhir_client(visit.clinic.tenant)
    bundle = fhir.json(f"Observation?patient={visit.patient_id}&_count=100")
    found = entries(bundle)
    assert bundle["type"] == "searchset"
    assert len(found) == Observation.objects.filter(patient_id=visit.patient_id).count() > 0
    assert {o["subject"]["reference"] for o in found} == {f"Patient/{visit.patient_id}"}


def test_smoke_every_type_reads():
    visit = charted_visit()
    fhir = fhir_client(visit.clinic.tenant)
    for t in ["Patient", "Encounter", "ServiceRequest", "Observation", "DiagnosticReport", "ChargeItem"]:
        b = fhir.json(f"{t}?_count=5")
        for r in entries(b):
            fhir.json(f"{t}/{r['id']}")
    report = DiagnosticReport.objects.first()
    h = fhir.json(f"DiagnosticReport/{report.pk}/_history")
    assert h["total"] >= 1
    fhir.json(f"Patient/{visit.patient_id}/$everything")
    fhir.json(f"Encounter/{visit.encounter.pk}/$everything")
    fhir.json("metadata")
