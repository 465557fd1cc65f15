"""The HL7 v2 conformance gaps third-party clients found (issue 18), each proved with messages
written here: character sets (MSH-18), unsolicited results, PID-13 in component form, the ACK's
header, and batches. The clinic is ``lab_visit()``'s: the lab 'SomeSystem', Donald Duck (MRN
10006579, authority '1') in an encounter in progress with the orders 88502218 and 855238581."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from uuid import UUID

import pytest
from django.db import connection
from rest_framework.test import APIClient

from clinic.models import OutboxEvent
from encounters import services as encounters
from encounters.models import TimelineEntry
from identity.facade import get_patient
from interop.models import InboundMessage
from interop.v2.intake import receive
from interop.v2.listener import Listener
from results.models import DiagnosticReport, Observation
from tests.clinic.factories import api_token
from tests.support.hl7 import MLLPClient, ack_fields, lab_visit, register_duck
from tests.support.results import deliver_pending
from tests.support.waiting import wait_for

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


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener("127.0.0.1", 0, workers=2).start_in_thread()
    yield running
    running.stop()
    connection.close()


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


# --- 5. Batches: each message taken as if sent alone, a batch of ACKs back ------------------------


def a_batch(*messages: str, file: bool = True, declared: int | None = None, sep: str = "\r") -> bytes:
    """FHS/BHS ... BTS/FTS around ``messages`` (each an ER7 text ending in CR)."""
    lines = []
    if file:
        lines.append("FHS|^~\\&|LIS|SomeSystem|CLINIC|RIVERSIDE|20260301110000||||FILE-7")
    lines.append("BHS|^~\\&|LIS^1.2.3^ISO|SomeSystem|CLINIC|RIVERSIDE|20260301110000||||BATCH-7")
    lines.extend(m.rstrip("\r") for m in messages)
    lines.append(f"BTS|{len(messages) if declared is None else declared}")
    if file:
        lines.append("FTS|1")
    return (sep.join(lines) + sep).encode()


def segments_of(ack: str) -> list[list[str]]:
    return [s.split("|") for s in ack.strip("\r").split("\r")]


BATCH = (
    oru(control_id="B-1", placer="88502218", filler="F-1"),
    oru(control_id="B-2", placer="855238581", filler="F-2"),
    adt("A08", control_id="B-3", phones="^PRN^PH^^44^20^79460000", mrn="10006579").decode(),
)


def assert_batch_answer(ack: str, *, file: bool = True) -> list[list[str]]:
    """The batch of ACKs' envelope around the ACKs; returns the MSA segments."""
    segments = segments_of(ack)
    ids = [s[0] for s in segments if s[0] in ("FHS", "BHS", "BTS", "FTS", "MSH")]
    assert ids == [*(["FHS"] if file else []), "BHS", "MSH", "MSH", "MSH", "BTS", *(["FTS"] if file else [])]
    bhs = next(s for s in segments if s[0] == "BHS")
    assert bhs[4] == "LIS^1.2.3^ISO" and bhs[11] == "BATCH-7"  # BHS-5 their application, BHS-12 their BHS-11
    assert next(s for s in segments if s[0] == "BTS")[1] == "3"
    if file:
        fhs = next(s for s in segments if s[0] == "FHS")
        assert fhs[11] == "FILE-7" and next(s for s in segments if s[0] == "FTS")[1] == "1"
    return [s for s in segments if s[0] == "MSA"]


@pytest.mark.django_db(transaction=True)
def test_a_batch_over_mllp_is_taken_message_by_message_and_answered_with_a_batch_of_acks(listener):
    lab_visit()
    client = MLLPClient(listener.port)
    try:
        ack = client.send(a_batch(*BATCH))
    finally:
        client.close()

    msas = assert_batch_answer(ack)
    assert [m[1:3] for m in msas] == [["AA", "B-1"], ["AA", "B-2"], ["AA", "B-3"]]
    stored = InboundMessage.objects.order_by("id")
    assert [(m.control_id, m.message_type, m.status) for m in stored] == [
        ("B-1", "ORU^R01", "processed"),
        ("B-2", "ORU^R01", "processed"),
        ("B-3", "ADT^A08", "processed"),
    ]
    assert bytes(stored[0].raw) == BATCH[0].encode()  # each message stored as sent
    assert DiagnosticReport.objects.count() == 2
    wait_for(lambda: InboundMessage.objects.filter(acknowledged_at__isnull=False).count() == 3)


def test_a_batch_over_http_gets_the_same_answer_and_names_every_stored_message():
    visit = lab_visit()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(visit.clinic.tenant, scopes=['hl7:submit'])}")

    response = client.post("/hl7/v2", data=a_batch(*BATCH, sep="\n"), content_type=HL7_MEDIA)

    msas = assert_batch_answer(response.content.decode())
    assert [m[1] for m in msas] == ["AA", "AA", "AA"]
    assert response["X-HL7-Ack-Code"] == "AA"
    ids = [int(i) for i in response["X-HL7-Message-Id"].split(",")]
    assert list(InboundMessage.objects.filter(pk__in=ids).order_by("id").values_list("control_id", flat=True)) == [
        "B-1",
        "B-2",
        "B-3",
    ]


def test_each_message_of_a_batch_gets_its_own_verdict():
    lab_visit()
    bad = oru(control_id="B-2").replace("ORU^R01^ORU_R01", "ORM^O01^ORM_O01")

    receipt = receive(raw=a_batch(BATCH[0], bad, BATCH[2], file=False), transport="mllp", peer="test")

    msas = assert_batch_answer(receipt.ack, file=False)
    assert [m[1:3] for m in msas] == [["AA", "B-1"], ["AR", "B-2"], ["AA", "B-3"]]
    assert receipt.code == "AR"  # the worst of them (the HTTP X-HL7-Ack-Code)
    assert DiagnosticReport.objects.count() == 1


def test_a_batch_sent_again_charts_nothing_twice():
    lab_visit()
    receive(raw=a_batch(*BATCH), transport="mllp", peer="test")
    counts = (DiagnosticReport.objects.count(), Observation.objects.count())

    again = receive(raw=a_batch(*BATCH), transport="mllp", peer="test")

    assert [m[1] for m in assert_batch_answer(again.ack)] == ["AA", "AA", "AA"]
    assert (DiagnosticReport.objects.count(), Observation.objects.count()) == counts
    assert InboundMessage.objects.filter(status="duplicate").count() == 3


def test_a_batch_whose_count_disagrees_says_so_in_its_bts():
    lab_visit()

    receipt = receive(raw=a_batch(*BATCH, declared=4), transport="mllp", peer="test")

    bts = next(s for s in segments_of(receipt.ack) if s[0] == "BTS")
    assert bts[1:] == ["3", "The batch declared 4 messages (BTS-1); 3 were received and are acknowledged here."]


def test_a_batch_whose_envelope_cannot_be_read_is_stored_whole_and_refused_naming_the_batch():
    visit = lab_visit()
    raw = a_batch(*BATCH).replace(
        b"\rMSH|^~\\&|LIS|SomeSystem|CLINIC|RIVERSIDE|20260301101500||ORU^R01^ORU_R01|B-1",
        b"\rPID|1||x\rMSH|^~\\&|LIS|SomeSystem|CLINIC|RIVERSIDE|20260301101500||ORU^R01^ORU_R01|B-1",
        1,
    )

    receipt = receive(raw=raw, transport="mllp", peer="test")

    segments = segments_of(receipt.ack)
    assert [s[0] for s in segments] == ["BHS", "MSH", "MSA", "ERR", "BTS"]
    msa = next(s for s in segments if s[0] == "MSA")
    assert msa[1:3] == ["AR", "FILE-7"]  # never an empty MSA-2: the file's control ID
    assert "outside any message" in msa[3]
    (stored,) = InboundMessage.objects.all()
    assert bytes(stored.raw) == raw and stored.status == "rejected" and stored.message_type == "FHS"
    assert stored.tenant_id == visit.tenant_id  # filed under the clinic of the lab that sent it
    assert not DiagnosticReport.objects.exists()


# --- 2. Unsolicited results: hold (the default) or chart, per lab partner --------------------------


def charting_unsolicited(visit):
    visit.partner.unsolicited_results = "chart"
    visit.partner.save()
    return visit


def test_by_default_a_result_without_a_known_order_is_held_as_today():
    lab_visit()

    receipt, ack = deliver(oru(placer="EXT-1", filler="EXT-77").encode())

    assert ack["MSA"][1] == "AA" and "Held for review (order-unknown)" in ack["MSA"][3]
    assert receipt.status == "held" and not DiagnosticReport.objects.exists()


def test_a_partner_that_charts_unsolicited_results_gets_them_on_the_record_without_an_order():
    visit = charting_unsolicited(lab_visit())

    receipt, ack = deliver(oru(placer="", filler="EXT-77").encode())

    assert ack["MSA"][1] == "AA" and ack["MSA"][3].startswith("Charted 1 report(s)"), receipt.ack
    report = DiagnosticReport.objects.get()
    assert report.patient_id == visit.patient_id
    assert report.order_id is None and report.encounter_id is None  # no order, no visit named
    assert Observation.objects.get().encounter_id is None
    # Flagged on the patient's encounter in progress: the timeline shows it.
    (flag,) = OutboxEvent.objects.filter(type="result.unsolicited")
    assert flag.encounter_id == visit.encounter.pk and flag.payload["unsolicited"] is True
    deliver_pending("result.unsolicited")
    entry = TimelineEntry.objects.get(encounter=visit.encounter, type="result.unsolicited")
    assert entry.summary.startswith("Unsolicited result (no order here): Hemogram")
    (available,) = OutboxEvent.objects.filter(type="result.available")
    assert available.encounter_id is None and available.payload["unsolicited"] is True


def test_an_unsolicited_result_naming_the_patients_visit_is_charted_to_that_visit():
    visit = charting_unsolicited(lab_visit())

    _receipt, ack = deliver(oru(placer="EXT-1", filler="EXT-77", visit=visit.encounter.visit_number).encode())

    assert ack["MSA"][1] == "AA"
    report = DiagnosticReport.objects.get()
    assert report.encounter_id == visit.encounter.pk and report.order_id is None
    (available,) = OutboxEvent.objects.filter(type="result.available")
    assert available.encounter_id == visit.encounter.pk and available.payload["unsolicited"] is True
    assert not OutboxEvent.objects.filter(type="result.unsolicited").exists()  # its own visit has it


@pytest.mark.parametrize(
    ("what", "change", "reason"),
    [
        ("an unknown patient", {"mrn": "99999999"}, "patient-unknown"),
        ("another patient's visit", {"visit": "OTHER"}, "patient-mismatch"),
    ],
)
def test_charting_unsolicited_results_never_guesses_the_patient(what, change, reason):
    visit = charting_unsolicited(lab_visit())
    if change.get("visit") == "OTHER":
        other = register_duck(visit.tenant_id, value="123")
        change = {
            "visit": encounters.open_walk_in(
                tenant_id=visit.tenant_id, patient_id=other.id, site_id=visit.clinic.site.pk, actor="t"
            ).visit_number
        }

    receipt, ack = deliver(oru(placer="", filler="EXT-77", **change).encode())

    assert ack["MSA"][1] == "AA" and f"Held for review ({reason})" in ack["MSA"][3], what
    assert receipt.status == "held" and not DiagnosticReport.objects.exists()


def test_an_unsolicited_result_lands_once_and_a_later_order_takes_it_over_without_doubling_it():
    visit = charting_unsolicited(lab_visit())
    deliver(oru(control_id="U-1", placer="", filler="EXT-77").encode())
    again, _ = deliver(oru(control_id="U-2", placer="", filler="EXT-77").encode())
    assert again.status == "duplicate"

    # The clinic orders the test after all, and the lab's next result quotes our placer number.
    final = oru(
        control_id="U-3",
        placer=visit.cbc.placer_number,
        filler="EXT-77",
        observations=("OBX|1|NM|718-7^Hemoglobin^LN||13.9|g/dL^^UCUM|12-16|N|||C",),
    )
    receipt, ack = deliver(final.encode())

    assert ack["MSA"][1] == "AA" and receipt.status == "processed", receipt.ack
    report = DiagnosticReport.objects.get()  # still one report
    assert report.placer_number == visit.cbc.placer_number and report.order_id == visit.cbc.pk
    assert report.encounter_id == visit.encounter.pk and report.version == 2
    observation = Observation.objects.get()  # still one observation, corrected
    assert observation.value_quantity == Decimal("13.9") and observation.encounter_id == visit.encounter.pk
    assert observation.placer_number == visit.cbc.placer_number
    visit.cbc.refresh_from_db()
    assert visit.cbc.status == "completed"


def test_a_result_resent_without_our_placer_number_is_the_report_charted_with_it():
    visit = lab_visit()  # holding partner: the first delivery quotes our order
    deliver(oru(control_id="R-1", placer=visit.cbc.placer_number, filler="LAB-5").encode())

    receipt, _ack = deliver(oru(control_id="R-2", placer="", filler="LAB-5").encode())

    assert receipt.status == "duplicate"
    assert DiagnosticReport.objects.count() == 1 and Observation.objects.count() == 1
