"""What real feeds do that the happy path does not: narrative reports in many OBX lines, several
patients in one message, dates and numbers outside what a record holds, NUL bytes, a shared
lab addressing another clinic, hyphenated identifiers, results re-issued after an error."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from clinic.models import OutboxEvent
from clinic.services import create_tenant
from identity.contracts import Demographics, HumanName, IdentifierInput
from identity.facade import register_patient
from interop.models import InboundMessage
from results.facade import file_held_result
from results.models import DiagnosticReport, HeldResult, Observation, ResultRevision
from tests.support.hl7 import LAB_MRN, er7, lab_visit
from tests.support.results import deliver, deliver_pending, next_placer_numbers

pytestmark = pytest.mark.django_db


def oru(*, control_id: str = "E1", sent: str = "20261201101500", mrn: str = "10006579", obx: list[str], more: str = ""):
    return er7(
        f"""
MSH|^~\\&|SomeSystem||CLINIC||{sent}||ORU^R01|{control_id}|P|2.5.1
PID|1||{mrn}^^^1^MR||Duck^Donald
OBR|1|88502218|82503246|24317-0^Hemogram^LN|||20261201090000|||||||||||||||20261201100000|||F
"""
        + "\n".join(obx)
        + more
    )


def charted() -> tuple[int, int]:
    return Observation.objects.count(), OutboxEvent.objects.filter(type__startswith="result.").count()


def test_a_narrative_in_many_obx_lines_is_one_observation_and_a_resend_changes_nothing():
    lab_visit()
    lines = [
        "OBX|1|TX|11502-2^Laboratory report^LN||Specimen received intact.||||||F",
        "OBX|2|TX|11502-2^Laboratory report^LN||No abnormal cells seen.||||||F",
        "OBX|3|TX|11502-2^Laboratory report^LN||Reviewed by the duty haematologist.||||||F",
    ]

    _receipt, ack = deliver(oru(obx=lines))
    resent, again = deliver(oru(obx=lines, control_id="E2", sent="20261201111500"))

    assert ack["MSA"][1] == "AA", ack
    report = Observation.objects.get()
    assert report.value_string == (
        "Specimen received intact.\nNo abnormal cells seen.\nReviewed by the duty haematologist."
    )
    assert report.version == 1
    assert again["MSA"][1] == "AA" and resent.status == "duplicate"
    assert OutboxEvent.objects.filter(type="result.available").count() == 1


def test_two_numeric_results_with_one_key_are_refused_not_charted_over_each_other():
    lab_visit()
    lines = [
        "OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F",
        "OBX|2|NM|718-7^Hemoglobin^LN||9.0|g/dL^^UCUM|||||F",
    ]

    receipt, ack = deliver(oru(obx=lines))

    assert ack["MSA"][1] == "AE", receipt.ack
    assert ack["ERR"][3].startswith("205^")
    assert "OBX 2 repeats the observation identifier" in ack["ERR"][8]
    assert charted() == (0, 0)


def test_a_message_with_two_patients_is_refused_not_charted_to_the_first():
    lab_visit()
    raw = oru(
        obx=["OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F"],
        more="\nPID|2||555^^^1^MR||Mouse^Mickey\nOBR|2||||2345-7^Glucose^LN\nOBX|1|NM|2345-7^Glucose^LN||250|mg/dL|||HH|||F",
    )

    receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AE", receipt.ack
    assert ack["ERR"][2].startswith("PID^2") and "names 2 patients" in ack["ERR"][8]
    assert charted() == (0, 0)


@pytest.mark.parametrize("when", ["00010101000000+0100", "99991231235959-1400", "17000101"])
def test_a_date_outside_any_clinical_record_is_refused_ae_102(when):
    lab_visit()
    raw = oru(obx=[f"OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F|||{when}"])

    receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AE", receipt.ack
    assert ack["ERR"][2] == "OBX^1^14^1" and ack["ERR"][3].startswith("102^")
    assert charted() == (0, 0)


def test_a_number_too_large_to_store_is_refused_ae_102():
    lab_visit()
    raw = oru(obx=["OBX|1|NM|718-7^Hemoglobin^LN||9999999999999999.999999999|g/dL^^UCUM|||||F"])

    receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AE", receipt.ack
    assert ack["ERR"][2] == "OBX^1^5^1" and "too large" in ack["ERR"][8]


def test_nul_bytes_are_refused_ar_and_the_message_is_still_stored():
    lab_visit()
    raw = oru(obx=["OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F"]).replace(b"Duck", b"Du\x00ck")

    receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AR", receipt.ack
    assert "NUL" in ack["ERR"][8]
    assert bytes(InboundMessage.objects.get(pk=receipt.message_id).raw) == raw
    assert charted() == (0, 0)


def test_an_escaped_nul_in_a_value_is_dropped_not_a_crash():
    lab_visit()
    raw = oru(obx=["OBX|1|TX|11502-2^Laboratory report^LN||Seen\\X00\\ today||||||F"])

    _receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AA"
    assert Observation.objects.get().value_string == "Seen today"


def test_a_shared_lab_addressing_another_clinic_is_refused_not_charted_here():
    visit = lab_visit()
    with transaction.atomic():
        create_tenant(slug="clinic-b", name="Clinic B")
    raw = oru(obx=["OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F"]).replace(b"|CLINIC||", b"|CLINIC|CLINIC-B|")

    receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AR", receipt.ack
    assert ack["ERR"][2] == "MSH^1^6^1" and ack["ERR"][3].startswith("204^")
    assert charted() == (0, 0)
    assert not HeldResult.objects.filter(tenant_id=visit.tenant_id).exists()


def test_a_result_held_under_a_hyphenated_identifier_is_released_when_the_patient_registers():
    visit = lab_visit(register=False)
    _receipt, ack = deliver(oru(mrn="2000-6579", obx=["OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F"]))
    assert "Held for review (patient-unknown)" in ack["MSA"][3]

    with transaction.atomic():
        register_patient(
            tenant_id=visit.tenant_id,
            identifiers=[IdentifierInput(system=LAB_MRN, value="20006579")],
            demographics=Demographics(name=HumanName(family="Duck", given=("Daisy",))),
            confirm_new=True,
            actor="test",
        )
    deliver_pending("patient.registered")

    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    assert held.attempts == 2  # tried again on registration (the order is still unknown)
    assert held.reason == "order-unknown"


def test_a_resend_of_a_filed_result_with_a_new_message_time_is_a_duplicate():
    visit = lab_visit()
    lines = ["OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F"]
    deliver(oru(mrn="77777777", obx=lines))
    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    with transaction.atomic():
        file_held_result(tenant_id=visit.tenant_id, held_id=held.pk, actor="admin", patient_id=visit.patient_id)

    receipt, ack = deliver(oru(mrn="77777777", obx=lines, control_id="E9", sent="20261202080000"))

    assert ack["MSA"][1] == "AA" and receipt.status == "duplicate", receipt.ack
    assert HeldResult.objects.filter(tenant_id=visit.tenant_id).count() == 1
    assert Observation.objects.count() == 1


def test_a_result_reissued_after_being_marked_in_error_applies():
    lab_visit()
    first = "OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F"
    deliver(oru(obx=[first]))
    deliver(oru(obx=[first.replace("|||||F", "|||||W")], control_id="E2", sent="20261201111500"))
    assert Observation.objects.get().status == "entered-in-error"

    _receipt, ack = deliver(oru(obx=[first.replace("13.1", "12.2")], control_id="E3", sent="20261201121500"))

    hemoglobin = Observation.objects.get()
    assert ack["MSA"][1] == "AA"
    assert hemoglobin.status == "final" and hemoglobin.value_quantity == Decimal("12.2")
    assert ResultRevision.objects.filter(object_id=hemoglobin.pk, outcome="superseded").count() == 2


def test_a_refused_result_is_found_by_its_accession_in_the_trace(api):
    visit = lab_visit()
    deliver(oru(obx=["OBX|1|NM|718-7^Hemoglobin^LN||high|g/dL^^UCUM|||||F"]))
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {visit.clinic.token}")

    found = api.get("/api/results/trace", {"accession": "82503246"}).json()

    assert found["count"] == 1 and found["messages"][0]["ack"]["code"] == "AE"
    assert not DiagnosticReport.objects.exists()


@pytest.fixture
def sender_cache(settings):
    """The sender cache on, as in production (the suite runs with it off)."""
    from interop.v2 import senders

    settings.CLINIC_HL7_SENDER_CACHE_SECONDS = 5.0
    senders.forget_senders()
    yield
    senders.forget_senders()


def test_with_the_sender_known_a_byte_identical_redelivery_is_found_by_the_store_statement(sender_cache):
    visit = lab_visit()
    raw = oru(obx=["OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F"])
    first, _ = deliver(raw)  # looks the lab up and remembers it
    from interop.v2 import er7 as reader
    from interop.v2.header import read_header
    from interop.v2.senders import cached_sender

    assert cached_sender(read_header(reader.normalise(raw.decode())), tenant_id=None) is not None

    again, ack = deliver(raw)  # stored and checked for an earlier copy in one statement

    assert ack["MSA"][1] == "AA" and again.status == "duplicate"
    stored = InboundMessage.objects.get(pk=again.message_id)
    assert stored.duplicate_of_id == first.message_id
    assert (stored.tenant_id, stored.partner_id) == (visit.tenant_id, visit.partner.pk)
    assert Observation.objects.count() == 1


def test_the_held_results_sweep_charts_what_a_missed_event_left_waiting():
    from orders import services as orders
    from results.services import retry_held

    visit = lab_visit(order=False)
    (placer,) = next_placer_numbers(1)
    raw = oru(obx=["OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL^^UCUM|||||F"]).replace(
        b"|88502218|", f"|{placer}|".encode()
    )
    _receipt, ack = deliver(raw)
    assert "order-unknown" in ack["MSA"][3]
    orders.place_orders(tenant_id=visit.tenant_id, encounter_id=visit.encounter.pk, codes=["FBC"], actor="t")
    # The order.placed event is never delivered (no worker): only the sweep can release it.

    assert retry_held() == 1

    held = HeldResult.objects.get(tenant_id=visit.tenant_id)
    assert held.status == "released" and held.released_by == "held-sweep"
    assert Observation.objects.get().report.placer_number == placer
    assert retry_held() == 0
