"""The work queue of unmatched results: a result whose patient or order is unknown is held
(acknowledged AA, never charted to a shadow patient), released automatically when the patient
or the order appears, or filed by an admin."""

from __future__ import annotations

import pytest
from django.db import transaction

from clinic.contracts import InvalidInput
from clinic.models import OutboxEvent
from encounters import services as encounters
from encounters.contracts import EncounterStatus
from identity.contracts import Demographics, Gender, HumanName, IdentifierInput
from identity.facade import merge_patients, register_patient
from identity.models import Patient
from interop.models import InboundMessage
from orders import services as orders
from results.facade import HeldResultClosed, file_held_result
from results.models import DiagnosticReport, HeldResult, Observation
from tests.support.hl7 import LAB_MRN, lab_visit, register_duck, sample
from tests.support.results import deliver, deliver_pending, for_our_orders, next_placer_numbers
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


def open_encounter(visit, patient_id):
    encounter = encounters.open_walk_in(
        tenant_id=visit.tenant_id, patient_id=patient_id, site_id=visit.clinic.site.pk, actor="t"
    )
    return encounters.move_encounter(
        tenant_id=visit.tenant_id, encounter_id=encounter.pk, to=EncounterStatus.IN_PROGRESS, actor="t"
    )


def place_fbc_and_diff(visit, encounter_id):
    placed, _ = orders.place_orders(
        tenant_id=visit.tenant_id, encounter_id=encounter_id, codes=["FBC", "DIFF"], actor="t"
    )
    return placed


def register_lab_patient(tenant_id: int, value: str, family: str = "Mouse", given: str = "Mickey"):
    with transaction.atomic():
        return register_patient(
            tenant_id=tenant_id,
            identifiers=[IdentifierInput(system=LAB_MRN, value=value)],
            demographics=Demographics(
                name=HumanName(family=family, given=(given,)), birth_date=None, gender=Gender.MALE
            ),
            confirm_new=True,
            actor="test",
        ).patient


def test_a_result_for_an_unknown_patient_is_acknowledged_held_and_creates_no_patient():
    visit = lab_visit(register=False)
    patients = Patient.objects.count()

    receipt, ack = deliver(sample("msfc_LAB-ORU-1.hl7"))

    assert ack["MSA"][1:3] == ["AA", "182"], receipt.ack
    assert ack["MSA"][3].startswith("Held for review (patient-unknown)")
    assert "ERR" not in ack
    assert receipt.status == "held"
    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    assert held.reason == "patient-unknown" and held.status == "held"
    assert held.patient_keys == ["1|10006579"]
    assert held.placer_numbers == ["855238581", "88502218"]
    assert held.accessions == ["82503246", "890775544"]
    message = InboundMessage.objects.get(pk=receipt.message_id)
    assert message.status == "held" and message.held_id == held.pk and message.patient_id is None
    assert message.committed_at is not None and message.event_ids == []
    assert Patient.objects.count() == patients
    assert not DiagnosticReport.objects.exists() and not Observation.objects.exists()


def test_registering_the_patient_retries_the_held_result_and_holds_it_for_its_order_instead():
    visit = lab_visit(register=False)
    receipt, _ = deliver(sample("msfc_LAB-ORU-1.hl7"))

    register_duck(visit.tenant_id)
    deliver_pending("patient.registered")

    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    assert held.status == "held" and held.reason == "order-unknown" and held.attempts == 2
    assert "88502218" in held.detail or "855238581" in held.detail
    assert InboundMessage.objects.get(pk=receipt.message_id).status == "held"
    assert not DiagnosticReport.objects.exists()


def test_placing_the_order_a_held_result_answers_charts_it_and_marks_its_message_processed():
    visit = lab_visit(order=False)
    cbc_number, diff_number = next_placer_numbers(2)
    receipt, ack = deliver(for_our_orders(sample("msfc_LAB-ORU-1.hl7"), cbc_number, diff_number))
    assert ack["MSA"][3].startswith("Held for review (order-unknown)")

    cbc, diff = place_fbc_and_diff(visit, visit.encounter.pk)
    assert (cbc.placer_number, diff.placer_number) == (cbc_number, diff_number)
    deliver_pending("order.placed")
    deliver_pending("result.released")

    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    assert held.status == "released" and held.released_by == "auto-release" and held.released_at is not None
    reports = {r.placer_number: r for r in DiagnosticReport.objects.filter(tenant_id=visit.tenant_id)}
    assert set(reports) == {cbc_number, diff_number}
    assert reports[cbc_number].order_id == cbc.pk and reports[cbc_number].patient_id == visit.patient_id
    assert reports[cbc_number].encounter_id == visit.encounter.pk
    assert Observation.objects.filter(tenant_id=visit.tenant_id).count() == 10
    message = InboundMessage.objects.get(pk=receipt.message_id)
    assert message.status == "processed" and message.patient_id == visit.patient_id
    assert sorted(message.produced["reports"]) == sorted(str(r.pk) for r in reports.values())
    assert len(message.event_ids) == 2
    assert set(OutboxEvent.objects.filter(id__in=message.event_ids).values_list("type", flat=True)) == {
        "result.available"
    }


def test_the_order_placed_event_of_another_order_does_not_release_a_held_result():
    visit = lab_visit(order=False)
    deliver(sample("msfc_LAB-ORU-1.hl7"))  # placer numbers 88502218 / 855238581: not ours

    place_fbc_and_diff(visit, visit.encounter.pk)
    deliver_pending("order.placed")

    assert HeldResult.objects.get(tenant_id=visit.tenant_id).status == "held"
    assert not DiagnosticReport.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_worker_charts_a_held_result_once_its_patient_is_registered_and_its_order_placed(celery_worker):
    visit = lab_visit(register=False)
    cbc_number, diff_number = next_placer_numbers(2)
    receipt, _ = deliver(for_our_orders(sample("msfc_LAB-ORU-2.hl7"), cbc_number, diff_number))
    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    assert held.reason == "patient-unknown"

    patient = register_duck(visit.tenant_id)
    wait_for(
        lambda: HeldResult.objects.filter(pk=held.pk, reason="order-unknown").exists(),
        what="the registration to retry the held result",
    )
    encounter = open_encounter(visit, patient.id)
    cbc, _diff = place_fbc_and_diff(visit, encounter.pk)

    message = wait_for(
        lambda: InboundMessage.objects.filter(pk=receipt.message_id, status="processed").first(),
        what="the held message to be charted and marked processed",
    )
    released = HeldResult.objects.get(pk=held.pk)
    assert released.status == "released" and released.attempts == 3
    report = DiagnosticReport.objects.get(tenant_id=visit.tenant_id, placer_number=cbc_number)
    assert report.order_id == cbc.pk and report.patient_id == patient.id and report.encounter_id == encounter.pk
    assert report.status == "final"
    assert message.patient_id == patient.id and str(report.pk) in message.produced["reports"]
    assert message.committed_at is not None and message.committed_at > message.received_at
    assert DiagnosticReport.objects.filter(tenant_id=visit.tenant_id).count() == 2  # charted once
    assert Patient.objects.filter(tenant_id=visit.tenant_id).count() == 1


def test_a_merge_releases_a_result_held_because_its_order_belongs_to_the_other_record():
    # The front desk registered Donald Duck (with the orders); the lab's ADT made a second record
    # with the lab MRN; the result names the second. A merge makes them one: the result charts.
    visit = lab_visit()
    duplicate = register_lab_patient(visit.tenant_id, "10006580", family="Duck", given="Donald")
    raw = sample("msfc_LAB-ORU-1.hl7").replace(b"|10006579^^^1^MR^1|", b"|10006580^^^1^MR^1|")
    receipt, ack = deliver(raw)
    assert ack["MSA"][3].startswith("Held for review (patient-mismatch)")

    with transaction.atomic():
        merge_patients(
            tenant_id=visit.tenant_id, source_id=duplicate.id, target_id=visit.patient_id, reason="dup", actor="t"
        )
    deliver_pending("patient.merged")
    deliver_pending("result.released")

    assert HeldResult.objects.get(tenant_id=visit.tenant_id).status == "released"
    assert set(DiagnosticReport.objects.values_list("patient_id", flat=True)) == {visit.patient_id}
    assert InboundMessage.objects.get(pk=receipt.message_id).status == "processed"


def test_an_admin_files_a_held_result_to_the_patient_they_choose():
    visit = lab_visit()
    # The lab knows Donald by an MRN we have never seen.
    receipt, _ = deliver(sample("msfc_LAB-ORU-1.hl7").replace(b"|10006579^^^1^MR^1|", b"|77777777^^^1^MR^1|"))
    held = HeldResult.objects.get(tenant_id=visit.tenant_id)

    with transaction.atomic():
        outcome = file_held_result(
            tenant_id=visit.tenant_id, held_id=held.pk, actor="user:1", patient_id=visit.patient_id
        )
    deliver_pending("result.released")

    assert outcome.status == "charted" and outcome.patient_id == visit.patient_id
    held.refresh_from_db()
    assert held.status == "filed" and held.released_by == "user:1"
    assert held.outcome["patient"] == str(visit.patient_id)
    reports = DiagnosticReport.objects.filter(tenant_id=visit.tenant_id)
    assert {r.order_id for r in reports} == {visit.cbc.pk, visit.diff.pk}
    assert {r.patient_id for r in reports} == {visit.patient_id}
    message = InboundMessage.objects.get(pk=receipt.message_id)
    assert message.status == "processed" and message.patient_id == visit.patient_id
    released = OutboxEvent.objects.get(type="result.released")
    assert released.payload["held_id"] == str(held.pk) and released.payload["by"] == "user:1"
    assert Patient.objects.filter(tenant_id=visit.tenant_id).count() == 1


def test_filing_a_result_already_charted_is_refused():
    visit = lab_visit()
    deliver(sample("msfc_LAB-ORU-1.hl7").replace(b"|10006579^^^1^MR^1|", b"|77777777^^^1^MR^1|"))
    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    with transaction.atomic():
        file_held_result(tenant_id=visit.tenant_id, held_id=held.pk, actor="user:1", patient_id=visit.patient_id)
    reports = DiagnosticReport.objects.count()

    with pytest.raises(HeldResultClosed), transaction.atomic():
        file_held_result(tenant_id=visit.tenant_id, held_id=held.pk, actor="user:2", patient_id=visit.patient_id)

    assert DiagnosticReport.objects.count() == reports


def test_retrying_the_lookup_of_a_result_still_unmatched_is_refused_and_keeps_it_held():
    visit = lab_visit(register=False)
    deliver(sample("msfc_LAB-ORU-1.hl7"))
    held = HeldResult.objects.get(tenant_id=visit.tenant_id)

    with pytest.raises(InvalidInput), transaction.atomic():
        file_held_result(tenant_id=visit.tenant_id, held_id=held.pk, actor="user:1")

    assert HeldResult.objects.get(pk=held.pk).status == "held"


def test_a_redelivery_of_a_held_message_while_still_held_creates_no_second_held_result():
    visit = lab_visit(register=False)
    first, _ = deliver(sample("msfc_LAB-ORU-1.hl7"))

    identical, identical_ack = deliver(sample("msfc_LAB-ORU-1.hl7"))
    resent, resent_ack = deliver(sample("msfc_LAB-ORU-1.hl7").replace(b"|ORU^R01|182|", b"|ORU^R01|182-R|"))

    assert identical_ack["MSA"][1:3] == ["AA", "182"] and identical.status == "duplicate"
    assert InboundMessage.objects.get(pk=identical.message_id).duplicate_of_id == first.message_id
    assert resent_ack["MSA"][1:3] == ["AA", "182-R"] and resent.status == "held"
    (held,) = HeldResult.objects.filter(tenant_id=visit.tenant_id)
    assert InboundMessage.objects.get(pk=resent.message_id).held_id == held.pk
    assert InboundMessage.objects.get(pk=first.message_id).held_id == held.pk


def test_a_result_naming_an_order_of_another_patient_is_held_as_a_patient_mismatch():
    visit = lab_visit()
    register_lab_patient(visit.tenant_id, "20000001")
    # PID-3 names Mickey; OBR-2 names Donald's orders.
    raw = sample("msfc_LAB-ORU-1.hl7").replace(b"|10006579^^^1^MR^1|", b"|20000001^^^1^MR^1|")

    receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AA", receipt.ack
    assert receipt.status == "held"
    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    assert held.reason == "patient-mismatch"
    assert "belongs to another patient" in held.detail
    assert not DiagnosticReport.objects.exists()


def test_a_redelivery_of_a_result_an_admin_filed_is_acknowledged_as_a_duplicate():
    visit = lab_visit()
    raw = sample("msfc_LAB-ORU-1.hl7").replace(b"|10006579^^^1^MR^1|", b"|77777777^^^1^MR^1|")
    deliver(raw)
    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    with transaction.atomic():
        file_held_result(tenant_id=visit.tenant_id, held_id=held.pk, actor="user:1", patient_id=visit.patient_id)
    counts = (DiagnosticReport.objects.count(), Observation.objects.count())

    receipt, ack = deliver(raw.replace(b"|ORU^R01|182|", b"|ORU^R01|182-R|"))

    assert ack["MSA"][1:3] == ["AA", "182-R"], receipt.ack
    assert receipt.status == "duplicate"
    assert (DiagnosticReport.objects.count(), Observation.objects.count()) == counts


def test_a_redelivery_of_a_result_released_automatically_charts_nothing_new():
    visit = lab_visit(order=False)
    cbc_number, diff_number = next_placer_numbers(2)
    raw = for_our_orders(sample("msfc_LAB-ORU-1.hl7"), cbc_number, diff_number)
    deliver(raw)
    place_fbc_and_diff(visit, visit.encounter.pk)
    deliver_pending("order.placed")
    counts = (DiagnosticReport.objects.count(), Observation.objects.count())

    receipt, ack = deliver(raw.replace(b"|ORU^R01|182|", b"|ORU^R01|182-R|"))

    assert ack["MSA"][1:3] == ["AA", "182-R"], receipt.ack
    assert receipt.status == "duplicate"
    assert (DiagnosticReport.objects.count(), Observation.objects.count()) == counts
