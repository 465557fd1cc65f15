"""The HL7 v2 conformance gaps third-party clients found (issue 18), each proved with messages
written here: character sets (MSH-18), unsolicited results, PID-13 in component form, the ACK's
header, and batches. The clinic is ``lab_visit()``'s: the lab 'SomeSystem', Donald Duck (MRN
10006579, authority '1') in an encounter in progress with the orders 88502218 and 855238581."""

from __future__ import annotations

from uuid import UUID

import pytest
from rest_framework.test import APIClient

from clinic.models import OutboxEvent
from identity.facade import get_patient
from interop.models import InboundMessage
from interop.v2.intake import receive
from results.models import DiagnosticReport, Observation
from tests.clinic.factories import api_token
from tests.support.hl7 import ack_fields, lab_visit

pytestmark = pytest.mark.django_db

HL7_MEDIA = "x-application/hl7-v2+er7"


def oru(
    *,
    control_id: str = "GAP-1",
    application: str = "LIS",
    facility: str = "SomeSystem",
    processing: str = "P",
    version: str = "2.5.1",
    charset: str = "",
    mrn: str = "10006579",
    visit: str = "",
    placer: str = "88502218",
    filler: str = "F-1001",
    observations: tuple[str, ...] = ("OBX|1|NM|718-7^Hemoglobin^LN||13.4|g/dL^^UCUM|12-16|N|||F",),
    report_notes: tuple[str, ...] = (),
) -> str:
    """An ORU^R01 of our own, as text (encode it in the charset under test)."""
    msh = f"MSH|^~\\&|{application}|{facility}|CLINIC|RIVERSIDE|20260301101500||ORU^R01^ORU_R01|{control_id}|"
    msh += f"{processing}|{version}" + (f"||||||{charset}" if charset else "")
    lines = [
        msh,
        f"PID|1||{mrn}^^^1^MR||Duck^Donald||19600101|M",
        f"PV1|1|O|||||||||||||||||{visit}" if visit else "",
        f"ORC|RE|{placer}|{filler}",
        f"OBR|1|{placer}|{filler}|24317-0^Hemogram^LN|||20260301090000|||||||||||||||20260301100000|||F",
        *(f"NTE|{i}||{note}" for i, note in enumerate(report_notes, start=1)),
        *observations,
    ]
    return "\r".join(line for line in lines if line) + "\r"


def patient_of(receipt) -> UUID:
    """The patient a delivered message was charted or applied to."""
    patient_id = InboundMessage.objects.get(pk=receipt.message_id).patient_id
    assert patient_id is not None
    return patient_id


def deliver(raw: bytes, transport: str = "mllp", **kwargs):
    receipt = receive(raw=raw, transport=transport, peer="test", **kwargs)
    return receipt, ack_fields(receipt.ack)


# --- 4. The ACK's header echoes the sender's MSH-3/MSH-4 whole, and MSH-11 -------------------------


@pytest.mark.parametrize("processing", ["P", "T", "D", "T^A"])
def test_the_ack_echoes_msh3_msh4_whole_and_the_processing_id(processing):
    visit = lab_visit()
    visit.partner.application, visit.partner.facility = "EHR Application", "Our Lab"
    visit.partner.save()
    raw = oru(
        application="EHR Application^2.16.840.1.113883.3.72.7.1^HL7",
        facility="Our Lab^2.16.840.1.113883.3.72.5.20^ISO",
        processing=processing,
    ).encode()

    receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AA", receipt.ack
    assert ack["MSH"][4] == "EHR Application^2.16.840.1.113883.3.72.7.1^HL7"  # MSH-5
    assert ack["MSH"][5] == "Our Lab^2.16.840.1.113883.3.72.5.20^ISO"  # MSH-6
    assert ack["MSH"][10] == processing  # MSH-11


def test_the_ack_over_http_has_the_same_header_as_over_mllp():
    visit = lab_visit()
    raw = oru(application="SomeSystem^1.2.3.4^ISO", facility="SomeSystem^1.2.3.5^ISO", processing="T").encode()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(visit.clinic.tenant, scopes=['hl7:submit'])}")

    response = client.post("/hl7/v2", data=raw, content_type=HL7_MEDIA)

    msh = response.content.decode().split("\r")[0].split("|")
    assert response["X-HL7-Ack-Code"] == "AA"
    assert msh[4:6] == ["SomeSystem^1.2.3.4^ISO", "SomeSystem^1.2.3.5^ISO"]
    assert msh[10] == "T"


def test_a_refused_message_still_echoes_the_whole_sender_in_its_ack():
    lab_visit()
    raw = oru(application="Nobody^9.9.9^ISO", facility="NoSuchLab^9.9.8^ISO", processing="D").encode()

    receipt, ack = deliver(raw)

    assert ack["MSA"][1:3] == ["AR", "GAP-1"]
    assert ack["MSH"][4:6] == ["Nobody^9.9.9^ISO", "NoSuchLab^9.9.8^ISO"]
    assert ack["MSH"][10] == "D"
    assert InboundMessage.objects.get(pk=receipt.message_id).sending_facility == "NoSuchLab"


def test_components_with_our_separators_in_them_are_escaped_in_the_echo():
    lab_visit()
    # A sender with its own encoding characters (# for components): its '^' is text to us.
    raw = b"MSH|#~\\&|App^One#1.2.3#ISO|Lab|CLINIC|X|20260301101500||ORU#R01|GAP-2|P|2.5.1\rPID|1||1\r"

    _receipt, ack = deliver(raw)

    assert ack["MSH"][4] == "App\\S\\One^1.2.3^ISO"


# --- 3. PID-13 in component form (XTN-5/6/7: the only form from v2.7 on) ---------------------------


def adt(event: str, *, control_id: str, phones: str, mrn: str = "55501", version: str = "2.7") -> bytes:
    return (
        f"MSH|^~\\&|LIS|SomeSystem|CLINIC|RIVERSIDE|20260301101500||ADT^{event}^ADT_A01|{control_id}|P|{version}\r"
        f"EVN|{event}|20260301101500\r"
        f"PID|1||{mrn}^^^1^MR||Mouse^Minnie||19700202|F|||1 Main Street^^Springfield^^SP1 1AA||{phones}\r"
        "PV1|1|O\r"
    ).encode()


PHONES = "^PRN^PH^^44^20^79460000~^NET^Internet^minnie@example.org~^WPN^CP^^44^7700^900123^12"


def test_pid13_in_component_form_is_kept_with_its_use_and_system():
    visit = lab_visit()

    receipt, ack = deliver(adt("A01", control_id="ADT-1", phones=PHONES))

    assert ack["MSA"][1] == "AA", receipt.ack
    patient_id = patient_of(receipt)
    record = get_patient(tenant_id=visit.tenant_id, patient_id=patient_id)
    assert [(t.system, t.value, t.use) for t in record.telecom] == [
        ("phone", "+44 20 79460000", "home"),
        ("email", "minnie@example.org", None),
        ("phone", "+44 7700 900123 ext. 12", "mobile"),
    ]


def test_an_a08_that_changes_nothing_says_unchanged_and_writes_nothing():
    visit = lab_visit()
    first, _ = deliver(adt("A01", control_id="ADT-1", phones=PHONES))
    patient_id = patient_of(first)

    receipt, ack = deliver(adt("A08", control_id="ADT-2", phones=PHONES))

    assert ack["MSA"][1:4] == [
        "AA",
        "ADT-2",
        f"Patient {patient_id} unchanged (the message repeats what is on record).",
    ]
    assert InboundMessage.objects.get(pk=receipt.message_id).produced["patients"] == [
        {"id": str(patient_id), "action": "unchanged"}
    ]
    assert get_patient(tenant_id=visit.tenant_id, patient_id=patient_id).version == 1
    assert not OutboxEvent.objects.filter(type="patient.updated").exists()


def test_an_a08_that_changes_only_the_component_form_phone_updates_it():
    visit = lab_visit()
    first, _ = deliver(adt("A01", control_id="ADT-1", phones=PHONES))
    patient_id = patient_of(first)

    _receipt, ack = deliver(adt("A08", control_id="ADT-2", phones="^PRN^PH^^44^20^79460001"))

    assert ack["MSA"][1:4] == ["AA", "ADT-2", f"Patient {patient_id} updated."]
    record = get_patient(tenant_id=visit.tenant_id, patient_id=patient_id)
    assert [(t.system, t.value) for t in record.telecom] == [("phone", "+44 20 79460001")]
    (event,) = OutboxEvent.objects.filter(type="patient.updated")
    assert event.payload["changed"] == ["telecom"]


def test_the_legacy_xtn1_and_the_unformatted_xtn12_still_count():
    visit = lab_visit()

    receipt, _ack = deliver(
        adt("A01", control_id="ADT-1", phones="(020) 7946 0000~^^^^^^^^^^^02079460001", version="2.5")
    )

    record = get_patient(tenant_id=visit.tenant_id, patient_id=patient_of(receipt))
    assert [t.value for t in record.telecom] == ["(020) 7946 0000", "02079460001"]


# --- 1. Character sets: MSH-18, else the partner's default; never a replacement character ---------

LATIN_TEXT = "Fastèng sample - résult confirmé"
TEXT_OBX = (f"OBX|1|ST|8251-1^Service comment^LN||{LATIN_TEXT}||||||F",)


def charted_text() -> list[str]:
    return list(Observation.objects.values_list("value_string", flat=True))


def test_a_latin1_message_that_says_so_in_msh18_is_charted_as_written():
    lab_visit()
    raw = oru(version="2.8", charset="8859/1", observations=TEXT_OBX, report_notes=("Hämolysiert",)).encode("latin-1")

    receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AA", receipt.ack
    assert charted_text() == [LATIN_TEXT]
    assert DiagnosticReport.objects.get().comments == ["Hämolysiert"]


def test_a_latin1_message_without_msh18_is_read_in_its_partners_default():
    visit = lab_visit()
    visit.partner.charset = "8859/1"
    visit.partner.save()

    receipt, ack = deliver(oru(observations=TEXT_OBX).encode("latin-1"))

    assert ack["MSA"][1] == "AA", receipt.ack
    assert charted_text() == [LATIN_TEXT]


def test_latin1_bytes_in_a_message_read_as_utf8_are_refused_naming_the_charset_and_the_byte():
    lab_visit()  # the partner's default: UNICODE UTF-8
    raw = oru(observations=TEXT_OBX).encode("latin-1")

    receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AR"
    offset = raw.index("è".encode("latin-1"))
    assert ack["ERR"][2] == "MSH^1^18^1" and ack["ERR"][3].startswith("102^")
    assert f"not valid UNICODE UTF-8 (the lab's default: MSH-18 is empty): byte 0xE8 at byte {offset}" in ack["ERR"][8]
    assert not Observation.objects.exists()
    assert InboundMessage.objects.get(pk=receipt.message_id).status == "rejected"


@pytest.mark.parametrize("charset", ["ISO IR87", "UNICODE UTF-16", "KLINGON"])
def test_an_unsupported_charset_is_refused_ar_naming_it(charset):
    lab_visit()

    _receipt, ack = deliver(oru(charset=charset).encode())

    assert ack["MSA"][1] == "AR"
    assert ack["ERR"][2] == "MSH^1^18^1" and ack["ERR"][3].startswith("103^")
    assert f"Character set {charset!r} (MSH-18) is not supported here" in ack["ERR"][8]
    assert "8859/1" in ack["ERR"][8] and "UNICODE UTF-8" in ack["ERR"][8]
    assert not Observation.objects.exists()


@pytest.mark.parametrize("charset", ["", "UNICODE UTF-8", "8859/1"])
def test_a_replacement_character_is_never_charted(charset):
    # A client that read Latin-1 as UTF-8 "with replacement" before sending: the text is lost.
    lab_visit()
    raw = oru(charset=charset, observations=("OBX|1|ST|8251-1^Service comment^LN||Fast\ufffdng||||||F",)).encode()

    _receipt, ack = deliver(raw)

    assert ack["MSA"][1] == "AR"
    assert "replacement character" in ack["ERR"][8]
    assert not Observation.objects.exists()


def test_the_euro_sign_of_8859_15_and_hex_escapes_decode_in_the_message_charset():
    lab_visit()
    obx = ("OBX|1|ST|8251-1^Service comment^LN||Cost € 5, r\\XE9\\sult||||||F",)

    receipt, ack = deliver(oru(charset="8859/15", observations=obx).encode("iso8859-15"))

    assert ack["MSA"][1] == "AA", receipt.ack
    assert charted_text() == ["Cost € 5, résult"]


def test_hex_escapes_that_are_not_valid_in_the_charset_are_kept_as_sent():
    lab_visit()
    obx = ("OBX|1|ST|8251-1^Service comment^LN||r\\XE9\\sult||||||F",)  # a lone 0xE9 is not UTF-8

    receipt, ack = deliver(oru(charset="UNICODE UTF-8", observations=obx).encode())

    assert ack["MSA"][1] == "AA", receipt.ack
    assert charted_text() == ["r\\XE9\\sult"]


def test_the_ack_is_sent_in_the_message_charset_and_declares_it():
    visit = lab_visit()
    visit.partner.facility = "Laboratoire Général"
    visit.partner.save()
    raw = oru(facility="Laboratoire Général", charset="8859/1", observations=TEXT_OBX).encode("latin-1")

    receipt = receive(raw=raw, transport="mllp", peer="test")

    assert receipt.ack_bytes().decode("latin-1").split("\r")[0].split("|")[5] == "Laboratoire Général"
    assert receipt.ack.split("\r")[0].split("|")[17] == "8859/1"  # MSH-18
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(visit.clinic.tenant, scopes=['hl7:submit'])}")
    response = client.post("/hl7/v2", data=raw.replace(b"GAP-1", b"GAP-2"), content_type=HL7_MEDIA)
    assert response["Content-Type"] == "x-application/hl7-v2+er7; charset=iso-8859-1"
    assert "Laboratoire Général" in response.content.decode("latin-1")
