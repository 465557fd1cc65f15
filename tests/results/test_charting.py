"""Charting ORU^R01 results through the intake (HTTP-free: ``interop.v2.intake.receive``): one
report per OBR, one observation per OBX, exactly once, with versions kept."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinic.models import OutboxEvent
from interop.models import InboundMessage
from orders.models import ServiceRequest
from results.models import DiagnosticReport, Observation, ResultRevision
from tests.support.hl7 import lab_visit, sample, sample_patient_with_order
from tests.support.results import deliver

pytestmark = pytest.mark.django_db


def test_a_preliminary_oru_charts_one_report_per_obr_and_one_observation_per_obx():
    visit = lab_visit()

    receipt, ack = deliver(sample("msfc_LAB-ORU-1.hl7"))

    assert ack["MSA"][1:3] == ["AA", "182"], receipt.ack
    assert receipt.status == "processed"
    reports = {r.placer_number: r for r in DiagnosticReport.objects.filter(tenant_id=visit.tenant_id)}
    assert set(reports) == {"88502218", "855238581"}
    cbc = reports["88502218"]
    assert cbc.order_id == visit.cbc.pk and cbc.encounter_id == visit.encounter.pk
    assert cbc.patient_id == visit.patient_id
    assert cbc.accession == "82503246"
    assert Observation.objects.filter(report=cbc).count() == 5
    erythrocytes = Observation.objects.get(report=cbc, code_key="LN|11273-0")
    assert erythrocytes.value_quantity == Decimal("4.06")
    assert erythrocytes.status == "preliminary"
    assert erythrocytes.unit == "tera.l-1" and erythrocytes.unit_ucum == ""  # not UCUM: kept as text
    assert erythrocytes.loinc == "11273-0"
    assert erythrocytes.interpretation == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
            "code": "N",
            "display": erythrocytes.interpretation[0]["display"],
        }
    ]
    leukocytes = Observation.objects.get(report=cbc, code_key="LN|11156-7")
    assert leukocytes.value_quantity is None and leukocytes.status == "registered"  # OBX-11 I: pending
    hematocrit = Observation.objects.get(report=cbc, code_key="LN|20570-8")
    assert hematocrit.unit_ucum == "%"
    message = InboundMessage.objects.get(pk=receipt.message_id)
    assert message.committed_at is not None and message.patient_id == visit.patient_id
    assert sorted(message.accessions) == ["82503246", "890775544"]
    assert len(message.event_ids) == 2
    assert set(OutboxEvent.objects.filter(id__in=message.event_ids).values_list("type", flat=True)) == {
        "result.available"
    }


def test_the_final_updates_the_same_rows_and_keeps_the_preliminary():
    visit = lab_visit()
    deliver(sample("msfc_LAB-ORU-1.hl7"))
    before = {o.code_key: o.pk for o in Observation.objects.filter(tenant_id=visit.tenant_id)}

    _receipt, ack = deliver(sample("msfc_LAB-ORU-2.hl7"))

    assert ack["MSA"][1:3] == ["AA", "ControlID"]
    after = {o.code_key: o for o in Observation.objects.filter(tenant_id=visit.tenant_id)}
    assert {k: o.pk for k, o in after.items()} == before  # updated, not charted again
    assert Observation.objects.filter(tenant_id=visit.tenant_id).count() == 10
    hemoglobin = after["LN|20509-6"]
    assert hemoglobin.status == "final" and hemoglobin.value_quantity == Decimal("13.4") and hemoglobin.version == 2
    prior = ResultRevision.objects.get(object_id=hemoglobin.pk, outcome="superseded")
    assert prior.version == 1 and prior.status == "registered"
    basophils = after["LN|30180-4"]  # renumbered from OBX 5 to OBX 1: same observation
    assert basophils.status == "final" and basophils.version == 2
    assert DiagnosticReport.objects.get(placer_number="88502218").status == "final"
    assert ServiceRequest.objects.get(pk=visit.cbc.pk).status == "completed"
    assert ServiceRequest.objects.get(pk=visit.cbc.pk).filler_number == "82503246"


def test_a_stale_preliminary_after_the_final_is_recorded_and_does_not_undo_it():
    visit = lab_visit()
    deliver(sample("msfc_LAB-ORU-1.hl7"))
    deliver(sample("msfc_LAB-ORU-2.hl7"))
    events_before = OutboxEvent.objects.filter(type__startswith="result.").count()

    # The preliminary again, but not byte-identical (a resend with a new control ID).
    _receipt, ack = deliver(sample("msfc_LAB-ORU-1.hl7").replace(b"|ORU^R01|182|", b"|ORU^R01|183|"))

    assert ack["MSA"][1:3] == ["AA", "183"]
    assert "older than" in ack["MSA"][3]
    hematocrit = Observation.objects.get(tenant_id=visit.tenant_id, code_key="LN|20570-8")
    assert hematocrit.status == "final" and hematocrit.value_quantity == Decimal("39.7")
    stale = ResultRevision.objects.filter(object_id=hematocrit.pk, outcome="stale")
    assert stale.count() == 1 and stale.get().content["value_quantity"] == "40.1"
    assert OutboxEvent.objects.filter(type__startswith="result.").count() == events_before
    # The same late version once more: already recorded, not recorded twice.
    deliver(sample("msfc_LAB-ORU-1.hl7").replace(b"|ORU^R01|182|", b"|ORU^R01|184|"))
    assert ResultRevision.objects.filter(object_id=hematocrit.pk, outcome="stale").count() == 1


def test_a_byte_identical_redelivery_is_acknowledged_and_writes_nothing():
    visit = lab_visit()
    first, _ = deliver(sample("msfc_LAB-ORU-1.hl7"))
    counts = (Observation.objects.count(), DiagnosticReport.objects.count(), OutboxEvent.objects.count())

    again, ack = deliver(sample("msfc_LAB-ORU-1.hl7"))

    assert ack["MSA"][1:3] == ["AA", "182"]
    assert again.status == "duplicate"
    assert InboundMessage.objects.get(pk=again.message_id).duplicate_of_id == first.message_id
    assert (Observation.objects.count(), DiagnosticReport.objects.count(), OutboxEvent.objects.count()) == counts
    assert visit.tenant_id


def test_a_redelivery_with_a_new_control_id_charts_nothing_new():
    lab_visit()
    deliver(sample("msfc_LAB-ORU-1.hl7"))
    counts = (Observation.objects.count(), OutboxEvent.objects.count(), ResultRevision.objects.count())

    receipt, ack = deliver(sample("msfc_LAB-ORU-1.hl7").replace(b"|182|", b"|RESENT-1|"))

    assert ack["MSA"][1:3] == ["AA", "RESENT-1"]
    assert receipt.status == "duplicate"
    assert (Observation.objects.count(), OutboxEvent.objects.count(), ResultRevision.objects.count()) == counts


def test_a_correction_creates_a_corrected_version_and_publishes_result_corrected():
    visit = lab_visit()
    deliver(sample("msfc_LAB-ORU-2.hl7"))
    corrected = (
        sample("msfc_LAB-ORU-2.hl7")
        .replace(b"|ControlID|", b"|CORR-1|")
        .replace(b"20509-6^HEMOGLOBIN^LN||13.4|g/l-1||N|||F|", b"20509-6^HEMOGLOBIN^LN||12.9|g/l-1||N|||C|")
    )

    receipt, ack = deliver(corrected)

    assert ack["MSA"][1] == "AA"
    hemoglobin = Observation.objects.get(tenant_id=visit.tenant_id, code_key="LN|20509-6")
    assert hemoglobin.status == "corrected" and hemoglobin.value_quantity == Decimal("12.9")
    assert ResultRevision.objects.get(object_id=hemoglobin.pk).content["value_quantity"] == "13.4"
    types = set(
        OutboxEvent.objects.filter(id__in=InboundMessage.objects.get(pk=receipt.message_id).event_ids).values_list(
            "type", flat=True
        )
    )
    assert "result.corrected" in types


def test_the_nist_lri_cbc_charts_every_value_type_unit_and_flag():
    visit = lab_visit(register=False)
    patient, _encounter = sample_patient_with_order(
        visit.tenant_id,
        facility="NIST Lab Facility",
        authority="NIST MPI",
        mrn="PATID1234",
        placer="ORD666555",
        family="Jones",
    )

    receipt, ack = deliver(sample("msfc_LRI_2.0-NG_CBC_Typ_Message.hl7"))

    assert ack["MSA"][1:3] == ["AA", "NIST-LRI-NG-002.00"], receipt.ack
    report = DiagnosticReport.objects.get(tenant_id=visit.tenant_id)
    assert report.patient_id == patient.id and report.accession == "R-991133"
    assert report.coded["original"]["code"] == "57021-8" and report.status == "final"
    assert report.specimen["type"]["code"] == "119297000"
    observations = {o.code_key: o for o in Observation.objects.filter(report=report)}
    assert len(observations) == 28
    leukocytes = observations["LN|26464-8"]
    assert leukocytes.value_quantity == Decimal("105600") and leukocytes.unit_ucum == "{cells}/uL"
    assert leukocytes.abnormal_flags == ["HH"] and leukocytes.interpretation[0]["code"] == "HH"
    assert leukocytes.reference_range == "4300 to 10800"
    assert observations["LN|26453-1"].unit_ucum == "10*6/uL"
    anisocytosis = observations["LN|38892-6"]
    assert anisocytosis.value_type == "CWE"
    assert anisocytosis.value_coded == {
        "system": "http://snomed.info/sct",
        "code": "260348001",
        "display": "Present ++ out of ++++",
    }
    assert observations["LN|6742-1"].value_string == "Many spherocytes present."
    assert all(o.status == "final" for o in observations.values())


def test_the_hl7_glucose_example_charts_a_structured_numeric_with_its_range_and_flag():
    visit = lab_visit(register=False)
    sample_patient_with_order(
        visit.tenant_id, facility="ELAB-3", authority="", mrn="555-44-4444", placer="845439", family="Everywoman"
    )

    receipt, ack = deliver(sample("msfc_ORU-R01-RMGEAD.hl7"))

    assert ack["MSA"][1:3] == ["AA", "CNTRL-3456"], receipt.ack
    glucose = Observation.objects.get(tenant_id=visit.tenant_id)
    assert glucose.value_type == "SN" and glucose.value_quantity == Decimal("182") and glucose.value_comparator == ""
    assert glucose.unit == "mg/dl" and glucose.unit_ucum == "mg/dl"  # UCUM accepts dl (deci-litre)
    assert glucose.reference_range == "70_105" and glucose.abnormal_flags == ["H"]
    assert glucose.status == "final"
    # A local test code (no coding system named): kept as received, on the unmapped work list.
    assert glucose.coded["original"]["code"] == "1554-5" and glucose.loinc == ""
    from terminology.models import UnmappedCode

    assert UnmappedCode.objects.filter(tenant_id=visit.tenant_id, code="1554-5").exists()
