"""ADT over HL7 v2: A01/A04 register, A08 updates, A40 merges, all through identity, with the
same storage and ACK rules as results (``interop.v2.intake.receive``)."""

from __future__ import annotations

import threading
from datetime import date
from textwrap import dedent

import pytest
from django.db import connection, transaction

from clinic.models import OutboxEvent
from identity.contracts import Demographics, Gender, HumanName, IdentifierInput
from identity.facade import register_patient
from identity.models import MergeRecord, Patient, PatientIdentifier
from interop.models import InboundMessage
from interop.v2.intake import receive
from tests.clinic.factories import TenantFactory
from tests.interop.factories import LabPartnerFactory
from tests.support.hl7 import ack_fields, add_lab_identifier_system, er7, sample

pytestmark = pytest.mark.django_db

GHH_MRN = "urn:ghh:mrn"  # PID-3 PATID1234^5^M11^test1&2.16.1&HCD^MR of the A01/A08 samples
BCBS = "urn:bcbs:member"  # PID-3 / MRG-1 ...^^^BCBS^MR of the A40 samples


def deliver(raw: bytes):
    receipt = receive(raw=raw, transport="mllp", peer="test")
    return receipt, ack_fields(receipt.ack)


def adt_clinic():
    """A tenant that takes ADT from the three senders of the samples: GHH (A01/A08, MSH-3
    ADTApp, MSH-4 GHHSFacility), Redox (A04, REDOX/RDX) and Ntierprise (A40, Ntierprise /
    Ntierprise Clinic), knowing GHH's MRN (authority test1) and BCBS member numbers."""
    tenant = TenantFactory()
    LabPartnerFactory(tenant=tenant, facility="GHHSFacility", application="ADTApp")
    LabPartnerFactory(tenant=tenant, facility="RDX", application="REDOX")
    LabPartnerFactory(tenant=tenant, facility="Ntierprise Clinic")
    add_lab_identifier_system(tenant.pk, authority="test1", uri=GHH_MRN)
    add_lab_identifier_system(tenant.pk, authority="BCBS", uri=BCBS)
    return tenant


def register_member(tenant, value: str, family: str, given: str, birth_date=None):
    with transaction.atomic():
        return register_patient(
            tenant_id=tenant.pk,
            identifiers=[IdentifierInput(system=BCBS, value=value)],
            demographics=Demographics(
                name=HumanName(family=family, given=(given,)), birth_date=birth_date, gender=Gender.FEMALE
            ),
            confirm_new=True,
            actor="test",
        ).patient


def holder(tenant, system: str, value: str) -> Patient:
    return PatientIdentifier.objects.get(tenant_id=tenant.pk, system__uri=system, value=value).patient


def events(tenant, type_: str):
    return OutboxEvent.objects.filter(type=type_, tenant_id=tenant.pk)


# --- A04 without an assigning authority ---------------------------------------------------------


def test_an_a04_whose_pid3_has_no_assigning_authority_is_refused_with_ae_204_and_registers_nobody():
    tenant = adt_clinic()

    # PID-3 MRN12345^5^M11^^MR^Special Hospital: CX-2 check digit 5, CX-3 scheme M11, CX-4 empty.
    receipt, ack = deliver(sample("msfc_ADT04-251.hl7"))

    assert ack["MSA"][1:3] == ["AE", "1270326314"], receipt.ack
    assert "assigning authority" in ack["MSA"][3]
    err = ack["ERR*"][0]
    assert err[2].split("^")[0::2][:2] == ["PID", "3"] and err[3].startswith("204")  # ERL: PID ^ seq ^ 3
    assert receipt.status == "rejected"
    message = InboundMessage.objects.get(pk=receipt.message_id)
    assert message.tenant_id == tenant.pk and message.status == "rejected" and message.ack_code == "AE"
    assert message.version == "2.3" and message.control_id == "1270326314"  # read past the BOM
    assert Patient.objects.filter(tenant_id=tenant.pk).count() == 0


def test_an_a04_without_assigning_authority_registers_when_the_clinic_maps_the_empty_authority():
    tenant = adt_clinic()
    add_lab_identifier_system(tenant.pk, authority="", uri="urn:redox:mrn")

    receipt, ack = deliver(sample("msfc_ADT04-251.hl7"))

    assert ack["MSA"][1] == "AA", receipt.ack
    patient = holder(tenant, "urn:redox:mrn", "MRN12345")
    assert (patient.family, patient.given, str(patient.birth_date), patient.gender) == (
        "Doe",
        ["Jane"],
        "1978-01-01",
        "female",
    )
    message = InboundMessage.objects.get(pk=receipt.message_id)
    assert message.status == "processed" and message.patient_id == patient.pk
    assert message.produced["patients"] == [{"id": str(patient.pk), "action": "registered"}]
    assert events(tenant, "patient.registered").filter(patient_id=patient.pk).count() == 1


# --- A01 then A08 (same MSH-10, same sender) -------------------------------------------------------


def test_an_a01_registers_the_patient_through_identity():
    tenant = adt_clinic()

    receipt, ack = deliver(sample("msfc_ADT-A01-01.hl7"))

    assert ack["MSA"][1:3] == ["AA", "MSG00001"], receipt.ack
    patient = holder(tenant, GHH_MRN, "PATID1234")
    assert patient.family == "EVERYMAN" and patient.given == ["ADAM", "A"]
    assert str(patient.birth_date) == "1988-08-18" and patient.gender == "male"
    assert Patient.objects.filter(tenant_id=tenant.pk).count() == 1
    message = InboundMessage.objects.get(pk=receipt.message_id)
    assert message.status == "processed" and message.committed_at is not None
    assert message.patient_id == patient.pk and message.message_type == "ADT^A01"


def test_an_a08_sharing_the_a01s_control_id_is_processed_as_an_update_not_a_duplicate():
    tenant = adt_clinic()
    first, _ = deliver(sample("msfc_ADT-A01-01.hl7"))
    patient = holder(tenant, GHH_MRN, "PATID1234")

    receipt, ack = deliver(sample("msfc_ADT-A08-01.hl7"))

    assert ack["MSA"][1:3] == ["AA", "MSG00001"], receipt.ack
    assert receipt.status == "processed"
    message = InboundMessage.objects.get(pk=receipt.message_id)
    assert message.duplicate_of_id is None and message.message_type == "ADT^A08"
    # The sample's PID is the A01's: nothing changed, so nothing is written or published, and
    # the ACK says so rather than "updated".
    assert message.produced["patients"] == [{"id": str(patient.pk), "action": "unchanged"}]
    assert ack["MSA"][3] == f"Patient {patient.pk} unchanged (the message repeats what is on record)."
    assert Patient.objects.filter(tenant_id=tenant.pk).count() == 1
    assert not events(tenant, "patient.updated").exists()
    assert Patient.objects.get(pk=patient.pk).version == 1
    assert first.message_id != receipt.message_id


def test_an_a08_with_new_demographics_updates_the_patient_and_publishes_patient_updated():
    tenant = adt_clinic()
    deliver(sample("msfc_ADT-A01-01.hl7"))
    patient = holder(tenant, GHH_MRN, "PATID1234")
    moved = (
        sample("msfc_ADT-A08-01.hl7")
        .replace(b"|EVERYMAN&&&&Aniston^ADAM^A^", b"|EVERYWOMAN&&&&Aniston^ADAM^A^")
        .replace(b"1000&Hospital Lane^Ste. 123^Ann Arbor ^MI^99999", b"12 New Street^^Ypsilanti^MI^48197")
    )

    receipt, ack = deliver(moved)

    assert ack["MSA"][1] == "AA", receipt.ack
    updated = Patient.objects.get(pk=patient.pk)
    assert updated.family == "EVERYWOMAN" and updated.version == 2
    assert updated.address[0]["city"] == "Ypsilanti"
    assert Patient.objects.filter(tenant_id=tenant.pk).count() == 1
    (event,) = events(tenant, "patient.updated")
    assert event.patient_id == patient.pk
    assert event.payload["changed"] == ["address", "family"]


def test_an_a08_for_an_unknown_patient_registers_them():
    tenant = adt_clinic()

    receipt, ack = deliver(sample("msfc_ADT-A08-01.hl7"))

    assert ack["MSA"][1] == "AA", receipt.ack
    patient = holder(tenant, GHH_MRN, "PATID1234")
    assert receipt.status == "processed"
    assert InboundMessage.objects.get(pk=receipt.message_id).produced["patients"] == [
        {"id": str(patient.pk), "action": "registered"}
    ]


def test_resending_the_exact_a01_is_acknowledged_as_a_duplicate_and_registers_nobody_new():
    tenant = adt_clinic()
    first, _ = deliver(sample("msfc_ADT-A01-01.hl7"))
    deliver(sample("msfc_ADT-A08-01.hl7"))
    registered = events(tenant, "patient.registered").count()

    receipt, ack = deliver(sample("msfc_ADT-A01-01.hl7"))

    assert ack["MSA"][1:3] == ["AA", "MSG00001"], receipt.ack
    assert receipt.status == "duplicate"
    assert InboundMessage.objects.get(pk=receipt.message_id).duplicate_of_id == first.message_id
    assert Patient.objects.filter(tenant_id=tenant.pk).count() == 1
    assert events(tenant, "patient.registered").count() == registered == 1


def test_an_a01_for_an_identifier_already_held_returns_that_patient_and_creates_no_other():
    tenant = adt_clinic()
    deliver(sample("msfc_ADT-A01-01.hl7"))
    patient = holder(tenant, GHH_MRN, "PATID1234")
    # Another admission of the same person: new control ID, a different spelling of the name.
    again = (
        sample("msfc_ADT-A01-01.hl7")
        .replace(b"|MSG00001|", b"|MSG00002|")
        .replace(b"|EVERYMAN&&&&Aniston^ADAM^", b"|EVRYMAN&&&&Aniston^ADAM^")
    )

    receipt, ack = deliver(again)

    assert ack["MSA"][1:3] == ["AA", "MSG00002"], receipt.ack
    assert receipt.status == "processed"
    assert InboundMessage.objects.get(pk=receipt.message_id).produced["patients"] == [
        {"id": str(patient.pk), "action": "found"}
    ]
    assert Patient.objects.filter(tenant_id=tenant.pk).count() == 1
    assert Patient.objects.get(pk=patient.pk).family == "EVERYMAN"  # A01 registers, it does not update


def test_an_a04_naming_identifiers_of_two_different_patients_is_refused_and_registers_nobody():
    tenant = adt_clinic()
    deliver(sample("msfc_ADT-A01-01.hl7"))  # GHH MRN PATID1234
    register_member(tenant, "12345", "Test", "Test")
    both = er7(
        dedent(
            """
            MSH|^~\\&|Ntierprise|Ntierprise Clinic|EHR|Clinic|20190423150137||ADT^A04|A04-2|P|2.5
            EVN|A04|20190423150137
            PID|1||12345^^^BCBS^MR~PATID1234^^^test1^MR||Test^Test^A||20180205|F
            """
        )
    )

    receipt, ack = deliver(both)

    assert ack["MSA"][1:3] == ["AE", "A04-2"], receipt.ack
    assert ack["ERR*"][0][3].startswith("205"), receipt.ack
    assert "2 different patients" in ack["MSA"][3]
    assert receipt.status == "rejected"
    assert Patient.objects.filter(tenant_id=tenant.pk).count() == 2


def test_an_a04_for_a_new_identifier_of_a_look_alike_patient_is_refused_not_registered_twice():
    tenant = adt_clinic()
    add_lab_identifier_system(tenant.pk, authority="", uri="urn:redox:mrn")
    with transaction.atomic():
        register_patient(
            tenant_id=tenant.pk,
            identifiers=[IdentifierInput(system=BCBS, value="99999")],
            demographics=Demographics(
                name=HumanName(family="Doe", given=("Jane",)), birth_date=date(1978, 1, 1), gender=Gender.FEMALE
            ),
            actor="front-desk",
        )

    receipt, ack = deliver(sample("msfc_ADT04-251.hl7"))  # Jane Doe 1978-01-01 under Redox MRN12345

    assert ack["MSA"][1] == "AE", receipt.ack
    assert ack["ERR*"][0][3].startswith("205")
    assert "matching details" in ack["MSA"][3]
    assert Patient.objects.filter(tenant_id=tenant.pk).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_a04s_for_one_identifier_register_one_patient():
    tenant = adt_clinic()
    add_lab_identifier_system(tenant.pk, authority="", uri="urn:redox:mrn")
    copies = [sample("msfc_ADT04-251.hl7").replace(b"|1270326314|", f"|A04-{i}|".encode()) for i in range(4)]
    start = threading.Barrier(len(copies))
    codes: list[str] = []

    def send(raw: bytes) -> None:
        try:
            start.wait()
            codes.append(receive(raw=raw, transport="mllp", peer="test").code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(raw,)) for raw in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert codes == ["AA"] * len(copies)
    assert Patient.objects.filter(tenant_id=tenant.pk).count() == 1
    actions = sorted(m.produced["patients"][0]["action"] for m in InboundMessage.objects.filter(tenant_id=tenant.pk))
    assert actions == ["found"] * (len(copies) - 1) + ["registered"]


# --- A40 merges ------------------------------------------------------------------------------------


def merge_pair(tenant):
    survivor = register_member(tenant, "12345", "Test", "Test")
    merged = register_member(tenant, "56789", "Tester", "Tess")
    return survivor, merged


def test_an_a40_merges_the_mrg_patient_into_the_pid_patient():
    tenant = adt_clinic()
    survivor, merged = merge_pair(tenant)

    receipt, ack = deliver(sample("msfc_ADT-A40-01.hl7"))

    assert ack["MSA"][1:3] == ["AA", "8919-40"], receipt.ack
    assert "Merged" in ack["MSA"][3]
    gone = Patient.objects.get(pk=merged.id)
    assert gone.active is False and gone.replaced_by_id == survivor.id
    assert Patient.objects.get(pk=survivor.id).active is True
    assert Patient.objects.filter(tenant_id=tenant.pk, active=True).count() == 1
    record = MergeRecord.objects.get(tenant_id=tenant.pk)
    assert (record.source_id, record.target_id) == (merged.id, survivor.id)
    assert holder(tenant, BCBS, "56789").pk == survivor.id  # the identifier moved to the survivor
    message = InboundMessage.objects.get(pk=receipt.message_id)
    assert message.status == "processed"
    assert message.produced["merges"] == [
        {"merge_id": str(record.pk), "source": str(merged.id), "target": str(survivor.id), "already": False}
    ]
    assert events(tenant, "patient.merged").count() == 1


def test_the_same_a40_again_is_acknowledged_and_merges_nothing_more():
    tenant = adt_clinic()
    merge_pair(tenant)
    deliver(sample("msfc_ADT-A40-01.hl7"))

    identical, identical_ack = deliver(sample("msfc_ADT-A40-01.hl7"))
    resent, resent_ack = deliver(sample("msfc_ADT-A40-01.hl7").replace(b"|8919-40|", b"|8919-41|"))

    assert identical_ack["MSA"][1:3] == ["AA", "8919-40"] and identical.status == "duplicate"
    assert resent_ack["MSA"][1:3] == ["AA", "8919-41"], resent.ack
    assert resent.status == "processed"
    assert InboundMessage.objects.get(pk=resent.message_id).produced["merges"][0]["already"] is True
    assert MergeRecord.objects.filter(tenant_id=tenant.pk).count() == 1
    assert events(tenant, "patient.merged").count() == 1


def test_an_a40_with_two_pid_mrg_pairs_makes_two_merges():
    tenant = adt_clinic()
    first_survivor, first_merged = merge_pair(tenant)
    second_survivor = register_member(tenant, "145", "Test", "Second")
    second_merged = register_member(tenant, "569", "Toast", "Second")

    receipt, ack = deliver(sample("msfc_ADT-A40-02.hl7"))

    assert ack["MSA"][1] == "AA", receipt.ack
    pairs = {(m.source_id, m.target_id) for m in MergeRecord.objects.filter(tenant_id=tenant.pk)}
    assert pairs == {(first_merged.id, first_survivor.id), (second_merged.id, second_survivor.id)}
    assert Patient.objects.filter(tenant_id=tenant.pk, active=True).count() == 2
    assert len(InboundMessage.objects.get(pk=receipt.message_id).produced["merges"]) == 2


def test_an_a40_naming_an_unknown_mrg_patient_is_refused_and_merges_nothing():
    tenant = adt_clinic()
    register_member(tenant, "12345", "Test", "Test")

    receipt, ack = deliver(sample("msfc_ADT-A40-01.hl7"))

    assert ack["MSA"][1:3] == ["AE", "8919-40"], receipt.ack
    err = ack["ERR*"][0]
    assert err[2].split("^")[0::2][:2] == ["MRG", "1"] and err[3].startswith("204")  # ERL: MRG ^ seq ^ 1
    assert "MRG-1 names no patient" in ack["MSA"][3]
    assert receipt.status == "rejected"
    assert InboundMessage.objects.get(pk=receipt.message_id).status == "rejected"
    assert not MergeRecord.objects.filter(tenant_id=tenant.pk).exists()
    assert Patient.objects.filter(tenant_id=tenant.pk, active=False).count() == 0


def test_an_a40_whose_second_pair_cannot_be_merged_undoes_the_first():
    tenant = adt_clinic()
    survivor, merged = merge_pair(tenant)
    register_member(tenant, "145", "Test", "Second")  # MRG 569 of the second pair is unknown

    receipt, ack = deliver(sample("msfc_ADT-A40-02.hl7"))

    assert ack["MSA"][1] == "AE", receipt.ack
    assert not MergeRecord.objects.filter(tenant_id=tenant.pk).exists()
    assert Patient.objects.get(pk=merged.id).replaced_by_id is None
    assert not events(tenant, "patient.merged").exists()
    assert Patient.objects.filter(tenant_id=tenant.pk, pk__in=[survivor.id, merged.id], active=True).count() == 2
