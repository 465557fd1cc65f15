"""The HL7 v2 intake edge: whatever a lab sends (nothing, junk, the wrong message, a broken one,
ten megabytes of it) is stored raw and answered with a specific ACK, and nothing is charted;
MLLP framing survives what TCP does to it; the listener keeps serving everyone else; HTTP gives
the ACK MLLP gives."""

from __future__ import annotations

import hashlib
import json
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from clinic.models import OutboxEvent
from interop import services as interop
from interop.models import InboundMessage
from interop.v2.intake import Receipt, receive
from interop.v2.listener import Listener
from results.models import DiagnosticReport, Observation
from tests.clinic.factories import TenantFactory, api_token
from tests.support.hl7 import MLLPClient, ack_fields, lab_visit, sample
from tests.support.waiting import child_database_url, wait_for

pytestmark = pytest.mark.django_db

ORU_1 = "msfc_LAB-ORU-1.hl7"  # SomeSystem, MSH-10 182, UTF-8 BOM, LF line ends, 2 OBR, 10 OBX
HL7_MEDIA = "x-application/hl7-v2+er7"
ROOT = Path(__file__).resolve().parents[2]
TEN_MB = 10 * 1000 * 1000


# --- Helpers ------------------------------------------------------------------------------------


def deliver(raw: bytes, **kwargs) -> tuple[Receipt, dict[str, list[str]]]:
    receipt = receive(raw=raw, transport="mllp", peer="test", **kwargs)
    return receipt, ack_fields(receipt.ack)


def charted() -> tuple[int, int, int]:
    """Everything a result writes: observations, reports, result events."""
    return (
        Observation.objects.count(),
        DiagnosticReport.objects.count(),
        OutboxEvent.objects.filter(type__startswith="result.").count(),
    )


def errs(ack: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(ERR-2 location, ERR-3 table 0357 code) of every ERR segment."""
    return [(e[2], e[3].split("^")[0]) for e in ack["ERR*"]]


def assert_stored_rejected(message_id: int, raw: bytes, *, code: str) -> InboundMessage:
    """The message is in the store byte for byte, refused with ``code``."""
    stored = InboundMessage.objects.get(pk=message_id)
    assert stored.status == "rejected"
    assert bytes(stored.raw) == raw
    assert stored.size == len(raw) and not stored.truncated
    assert stored.sha256 == hashlib.sha256(raw).hexdigest()
    assert stored.ack_code == code
    assert stored.errors and stored.patient_id is None and stored.event_ids == []
    return stored


def oru_1(**replace: bytes) -> bytes:
    """LAB-ORU-1 with byte replacements: ``oru_1(**{"|182|": b"|183|"})``."""
    raw = sample(ORU_1)
    for old, new in replace.items():
        assert raw.count(old.encode()) == 1, old
        raw = raw.replace(old.encode(), new)
    return raw


def with_control_id(control_id: str) -> bytes:
    return oru_1(**{"|ORU^R01|182|": f"|ORU^R01|{control_id}|".encode()})


def segments(raw: bytes) -> list[bytes]:
    """The sample's segments, without BOM or line ends."""
    return [line for line in raw.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n").split(b"\n") if line]


def framed(message: bytes) -> bytes:
    return b"\x0b" + message + b"\x1c\r"


def msa_and_err(ack: str) -> list[str]:
    """The ACK without its MSH (whose time and control ID are new each time)."""
    return [s for s in ack.strip("\r").split("\r") if not s.startswith("MSH|")]


def no_delay(client: MLLPClient) -> MLLPClient:
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write its own segment
    return client


def binary_junk(size: int = 600) -> bytes:
    """Random bytes without the MLLP block characters (those would frame it)."""
    junk = random.Random(6).randbytes(size * 2)
    return bytes(b for b in junk if b not in (0x0B, 0x1C))[:size]


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener("127.0.0.1", 0, workers=4).start_in_thread()
    yield running
    running.stop()
    connection.close()


def hl7_client(tenant, *, scopes: list[str] | None = None, name: str = "lab-feed") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(tenant, name=name, scopes=scopes or ['hl7:submit'])}")
    return client


# --- Bad input: a specific ACK, stored raw, nothing charted --------------------------------------


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n  "], ids=["nothing", "white-space"])
def test_an_empty_payload_is_refused_ar_100_and_stored(raw):
    lab_visit()

    receipt, ack = deliver(raw)

    assert ack["MSA"][1:3] == ["AR", ""], receipt.ack
    assert "empty" in ack["MSA"][3]
    assert errs(ack) == [("", "100")]
    stored = assert_stored_rejected(receipt.message_id, raw, code="AR")
    assert stored.tenant_id is None
    assert charted() == (0, 0, 0)


def test_random_binary_is_refused_ar_as_not_hl7_and_stored():
    lab_visit()
    junk = binary_junk()

    receipt, ack = deliver(junk)

    assert ack["MSA"][1:3] == ["AR", ""], receipt.ack
    assert ack["MSA"][3] == "The message is not HL7 v2 text."
    assert errs(ack) == [("", "100")]
    assert_stored_rejected(receipt.message_id, junk, code="AR")
    assert charted() == (0, 0, 0)


def test_a_json_document_is_refused_ar_as_not_starting_with_msh_and_stored():
    lab_visit()
    document = json.dumps({"resourceType": "Bundle", "type": "message", "entry": []}, indent=2).encode()

    receipt, ack = deliver(document)

    assert ack["MSA"][1:3] == ["AR", ""], receipt.ack
    assert ack["MSA"][3] == "The message does not start with an MSH segment."
    assert errs(ack) == [("", "100")]
    assert_stored_rejected(receipt.message_id, document, code="AR")
    assert charted() == (0, 0, 0)


def test_a_message_without_msh_is_refused_ar_100_and_stored():
    lab_visit()
    headless = b"\r".join(segments(sample(ORU_1))[1:]) + b"\r"  # starts with PID

    receipt, ack = deliver(headless)

    assert ack["MSA"][1:3] == ["AR", ""], receipt.ack
    assert "does not start with an MSH segment" in ack["MSA"][3]
    assert errs(ack) == [("", "100")]
    assert_stored_rejected(receipt.message_id, headless, code="AR")
    assert charted() == (0, 0, 0)


def test_an_order_message_from_our_lab_is_refused_ar_200_and_filed_under_the_clinic():
    visit = lab_visit()
    order = sample("msfc_LAB-ORM-1.hl7")  # ORM^O01 from SomeSystem: an order, not a result

    receipt, ack = deliver(order)

    assert ack["MSA"][1:3] == ["AR", "MSGID20060307110114"], receipt.ack
    assert "ORM^O01 is not accepted" in ack["MSA"][3].replace("\\S\\", "^")
    assert errs(ack) == [("MSH^1^9^1", "200")]
    stored = assert_stored_rejected(receipt.message_id, order, code="AR")
    assert stored.message_type == "ORM^O01" and stored.control_id == "MSGID20060307110114"
    # A refused message from a registered lab is the clinic's to see (store, trace), not nobody's.
    assert (stored.tenant_id, stored.partner_id) == (visit.tenant_id, visit.partner.pk)
    assert charted() == (0, 0, 0)


def test_an_order_message_with_blank_lines_from_an_unknown_sender_is_refused_ar_200():
    lab_visit()
    order = sample("mirth_test-hl7-input_ORM_blanklines.hl7")

    receipt, ack = deliver(order)

    assert ack["MSA"][1:3] == ["AR", "12345678"], receipt.ack
    assert errs(ack) == [("MSH^1^9^1", "200")]
    stored = assert_stored_rejected(receipt.message_id, order, code="AR")
    assert stored.tenant_id is None and stored.sending_facility == "MIRTH"
    assert charted() == (0, 0, 0)


def test_an_unsupported_event_of_a_supported_type_is_refused_ar_201():
    lab_visit()
    query_response = oru_1(**{"|ORU^R01|": b"|ORU^R30|"})

    receipt, ack = deliver(query_response)

    assert ack["MSA"][1:3] == ["AR", "182"], receipt.ack
    assert errs(ack) == [("MSH^1^9^1", "201")]
    assert_stored_rejected(receipt.message_id, query_response, code="AR")
    assert charted() == (0, 0, 0)


@pytest.mark.parametrize("version", ["2.1", "3.0"])
def test_an_unsupported_version_is_refused_ar_203(version):
    lab_visit()
    old = oru_1(**{"|T|2.5|": f"|T|{version}|".encode()})

    receipt, ack = deliver(old)

    assert ack["MSA"][1:3] == ["AR", "182"], receipt.ack
    assert repr(version) in ack["MSA"][3]
    assert errs(ack) == [("MSH^1^12^1", "203")]
    assert ack["MSH"][11] == "2.5.1"  # we answer in a version we speak
    stored = assert_stored_rejected(receipt.message_id, old, code="AR")
    assert stored.version == version
    assert charted() == (0, 0, 0)


def test_a_message_without_a_control_id_is_refused_ar_101():
    lab_visit()
    anonymous = oru_1(**{"|ORU^R01|182|": b"|ORU^R01||"})

    receipt, ack = deliver(anonymous)

    assert ack["MSA"][1:3] == ["AR", ""], receipt.ack
    assert "MSH-10" in ack["MSA"][3]
    assert errs(ack) == [("MSH^1^10^1", "101")]
    assert_stored_rejected(receipt.message_id, anonymous, code="AR")
    assert charted() == (0, 0, 0)


def test_a_message_cut_off_in_the_middle_of_an_obx_is_refused_ae_and_charts_nothing():
    lab_visit()
    raw = sample(ORU_1)
    # The connection dropped after "OBX|2|NM|11273-0^ERYTHRO": the rest of the message is lost.
    cut = raw[: raw.index(b"OBX|2|") + len(b"OBX|2|NM|11273-0^ERYTHRO")]

    receipt, ack = deliver(cut)

    assert ack["MSA"][1:3] == ["AE", "182"], receipt.ack
    # OBX-11 (result status) is required (HL7 v2.5.1 7.4.2.11): a segment without it is incomplete.
    assert ("OBX^2^11^1", "101") in errs(ack)
    assert_stored_rejected(receipt.message_id, cut, code="AE")
    assert charted() == (0, 0, 0)


def test_a_message_cut_off_in_an_obx_date_is_refused_ae_102():
    lab_visit()
    raw = sample(ORU_1)
    cut = raw[: raw.index(b"OBX|2|") + len(b"OBX|2|NM|11273-0^ERYTHROCYTES^LN||4.06|tera.l-1||N|||P|||2014100")]

    receipt, ack = deliver(cut)

    assert ack["MSA"][1:3] == ["AE", "182"], receipt.ack
    assert errs(ack) == [("OBX^2^14^1", "102")]
    assert_stored_rejected(receipt.message_id, cut, code="AE")
    assert charted() == (0, 0, 0)


def test_a_garbled_segment_id_is_refused_ae_100_and_charts_nothing():
    lab_visit()
    garbled = oru_1(**{"OBX|3|NM|20509-6": b"0BX|3|NM|20509-6"})  # zero for O: segment 6

    receipt, ack = deliver(garbled)

    assert ack["MSA"][1:3] == ["AE", "182"], receipt.ack
    assert "Segment 6" in ack["MSA"][3] and "'0BX'" in ack["MSA"][3]
    assert [code for _, code in errs(ack)] == ["100"]
    assert_stored_rejected(receipt.message_id, garbled, code="AE")
    assert charted() == (0, 0, 0)


def test_a_non_numeric_nm_value_is_refused_ae_102_naming_obx_5():
    lab_visit()
    comma = oru_1(
        **{"||4.06|tera.l-1|": b"||4,06|tera.l-1|"}
    )  # a decimal comma in the second OBX (ERL-2 counts OBX segments)

    receipt, ack = deliver(comma)

    assert ack["MSA"][1:3] == ["AE", "182"], receipt.ack
    assert errs(ack) == [("OBX^2^5^1", "102")]
    assert "'4,06' is not a number" in ack["ERR"][8]
    assert ack["ERR"][3] == "102^Data type error^HL70357"
    assert_stored_rejected(receipt.message_id, comma, code="AE")
    assert charted() == (0, 0, 0)


def test_every_bad_value_in_a_message_is_named_at_once():
    lab_visit()
    bad = oru_1(**{"||4.06|tera.l-1|": b"||high|tera.l-1|", "||221|giga.l-1|": b"||2 21|giga.l-1|"})

    receipt, ack = deliver(bad)

    assert ack["MSA"][1] == "AE", receipt.ack
    assert errs(ack) == [("OBX^2^5^1", "102"), ("OBX^5^5^1", "102")]
    assert charted() == (0, 0, 0)


def test_a_bad_birth_date_from_a_registered_lab_is_refused_ae_102_naming_pid_7():
    visit = lab_visit()
    interop.create_lab_partner(tenant_id=visit.tenant_id, name="Mirth lab", facility="MIRTH")
    raw = sample("mirth_donkey_small_ORU.hl7")  # PID-7 "Aug 15, 1942"

    receipt, ack = deliver(raw)

    assert ack["MSA"][1:3] == ["AE", "12345678"], receipt.ack
    assert errs(ack) == [("PID^1^7^1", "102")]
    assert "PID-7 'Aug 15, 1942' is not an HL7 date/time" in ack["ERR"][8]
    stored = assert_stored_rejected(receipt.message_id, raw, code="AE")
    assert stored.tenant_id == visit.tenant_id
    assert charted() == (0, 0, 0)


def test_a_bad_birth_date_from_an_unregistered_lab_is_refused_ar_unknown_sender():
    lab_visit()
    raw = sample("mirth_donkey_small_ORU.hl7")

    receipt, ack = deliver(raw)

    assert ack["MSA"][1:3] == ["AR", "12345678"], receipt.ack
    assert errs(ack) == [("MSH^1^4^1", "204")]
    stored = assert_stored_rejected(receipt.message_id, raw, code="AR")
    assert stored.tenant_id is None
    assert charted() == (0, 0, 0)


def big_oru(size: int) -> bytes:
    """LAB-ORU-1 with a note long enough to make it ``size`` bytes."""
    raw = sample(ORU_1)
    at = raw.index(b"OBX|2|")
    note = b"NTE|1||"
    filler = b"A" * (size - len(raw) - len(note) - 1)
    return raw[:at] + note + filler + b"\n" + raw[at:]


def test_a_10_mb_message_is_refused_ar_and_stored_whole_with_its_size():
    lab_visit()
    huge = big_oru(TEN_MB)
    assert len(huge) == TEN_MB

    receipt, ack = deliver(huge)

    assert ack["MSA"][1:3] == ["AR", "182"], receipt.ack[:500]
    assert str(TEN_MB) in ack["MSA"][3]
    assert [code for _, code in errs(ack)] == ["207"]
    stored = assert_stored_rejected(receipt.message_id, huge, code="AR")
    assert stored.size == TEN_MB
    assert charted() == (0, 0, 0)


def test_a_message_from_an_unknown_sender_is_refused_ar_204_and_stored_without_a_tenant():
    lab_visit()
    stranger = oru_1(**{"MSH|^~\\&|SomeSystem|": b"MSH|^~\\&|OtherLab|"})

    receipt, ack = deliver(stranger)

    assert ack["MSA"][1:3] == ["AR", "182"], receipt.ack
    assert "Unknown sender" in ack["MSA"][3] and "'OtherLab'" in ack["MSA"][3]
    assert errs(ack) == [("MSH^1^4^1", "204")]
    stored = assert_stored_rejected(receipt.message_id, stranger, code="AR")
    assert (stored.tenant_id, stored.partner_id) == (None, None)
    assert stored.sending_application == "OtherLab" and stored.control_id == "182"
    assert charted() == (0, 0, 0)


def test_a_rejected_message_from_our_lab_is_found_by_the_support_trace():
    visit = lab_visit()
    deliver(oru_1(**{"|T|2.5|": b"|T|2.1|"}))
    support = APIClient()
    support.credentials(HTTP_AUTHORIZATION=f"Bearer {visit.clinic.token}")

    response = support.get("/api/results/trace", {"control_id": "182"})

    assert response.status_code == 200
    (message,) = response.json()["messages"]
    assert (message["status"], message["ack"]["code"]) == ("rejected", "AR")
    assert message["errors"][0]["code"] == "203"


# --- Line-ending quirks: normalised, charted identically ---------------------------------------


def crlf(raw: bytes) -> bytes:
    return b"\xef\xbb\xbf" + b"\r\n".join(segments(raw)) + b"\r\n"


def cr_without_bom(raw: bytes) -> bytes:
    return b"\r".join(segments(raw)) + b"\r"


def blank_lines(raw: bytes) -> bytes:
    return b"\r\n\r\n".join(segments(raw)) + b"\r\n\r\n"


def blank_lines_with_spaces(raw: bytes) -> bytes:
    return b"\n  \n".join(segments(raw)) + b"\n \t\n"


VARIANTS = {
    "bom-lf-as-sent": lambda raw: raw,
    "bom-crlf": crlf,
    "cr-no-bom": cr_without_bom,
    "blank-lines-crlf": blank_lines,
    "blank-lines-with-spaces-lf": blank_lines_with_spaces,
}


def chart_snapshot(tenant_id: int) -> list[tuple[object, ...]]:
    return sorted(
        Observation.objects.filter(tenant_id=tenant_id).values_list(
            "report__placer_number", "code_key", "value_quantity", "unit", "status", "interpretation"
        )
    )


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_line_ending_variants_of_a_result_chart_it_fully(variant):
    visit = lab_visit()
    raw = variant(sample(ORU_1))

    receipt, ack = deliver(raw)

    assert ack["MSA"][1:3] == ["AA", "182"], receipt.ack
    assert receipt.status == "processed"
    assert Observation.objects.filter(tenant_id=visit.tenant_id).count() == 10
    assert DiagnosticReport.objects.filter(tenant_id=visit.tenant_id).count() == 2
    assert bytes(InboundMessage.objects.get(pk=receipt.message_id).raw) == raw  # stored as sent, not normalised


def test_line_ending_variants_of_a_result_are_recognised_as_the_same_result():
    visit = lab_visit()
    deliver(sample(ORU_1))
    first = chart_snapshot(visit.tenant_id)
    before = charted()

    for name, variant in VARIANTS.items():
        if name == "bom-lf-as-sent":
            continue
        receipt, ack = deliver(variant(sample(ORU_1)))
        # Not byte-identical, yet the same result: no field read differently, nothing re-charted.
        assert (ack["MSA"][1], receipt.status) == ("AA", "duplicate"), (name, receipt.ack)

    assert charted() == before
    assert chart_snapshot(visit.tenant_id) == first and len(first) == 10


# --- MLLP: framing, persistent connections, a listener that keeps serving ------------------------


@pytest.mark.django_db(transaction=True)
def test_many_messages_on_one_connection_get_one_ack_each_in_order(listener):
    visit = lab_visit()
    messages = []
    for i in range(12):
        if i % 4 == 3:
            messages.append((f"OLD-{i}", "AR", oru_1(**{"|ORU^R01|182|T|2.5|": f"|ORU^R01|OLD-{i}|T|2.1|".encode()})))
        else:
            messages.append((f"MSG-{i}", "AA", with_control_id(f"MSG-{i}")))
    client = MLLPClient(listener.port)

    for _, _, message in messages:  # pipelined: every frame written before any ACK is read
        client.send_raw(framed(message))
    acks = [ack_fields(client.read_ack())["MSA"] for _ in messages]
    client.close()

    assert [(msa[1], msa[2]) for msa in acks] == [(code, control_id) for control_id, code, _ in messages]
    assert Observation.objects.filter(tenant_id=visit.tenant_id).count() == 10  # charted once
    stored = list(InboundMessage.objects.order_by("id").values_list("control_id", "status"))
    assert [c for c, _ in stored] == [c for c, _, _ in messages]
    assert [s for _, s in stored] == ["processed"] + [
        "rejected" if code == "AR" else "duplicate" for _, code, _ in messages[1:]
    ]
    wait_for(
        lambda: not InboundMessage.objects.filter(acknowledged_at__isnull=True).exists(),
        timeout=5,
        what="every ACK recorded as handed over",
    )


@pytest.mark.django_db(transaction=True)
def test_a_frame_split_across_many_tcp_writes_is_one_message(listener):
    visit = lab_visit()
    raw = sample(ORU_1)
    client = no_delay(MLLPClient(listener.port))

    client.send_raw(b"\x0b")
    for at in range(0, len(raw), 97):
        client.send_raw(raw[at : at + 97])
        time.sleep(0.003)
    client.send_raw(b"\x1c")  # the end block split from its CR
    time.sleep(0.02)
    client.send_raw(b"\r")
    first = ack_fields(client.read_ack())
    second = ack_fields(client.send(with_control_id("AFTER-SPLIT")))
    client.close()

    assert first["MSA"][1:3] == ["AA", "182"]
    assert second["MSA"][1:3] == ["AA", "AFTER-SPLIT"]
    stored = InboundMessage.objects.order_by("id")
    assert bytes(stored[0].raw) == raw and stored.count() == 2
    assert Observation.objects.filter(tenant_id=visit.tenant_id).count() == 10


@pytest.mark.django_db(transaction=True)
def test_frames_coalesced_in_one_write_are_separate_messages(listener):
    lab_visit()
    one, two, three = (with_control_id(c) for c in ("C-1", "C-2", "C-3"))
    client = no_delay(MLLPClient(listener.port))

    # Two whole frames and the start of a third in one write; the rest of the third later.
    client.send_raw(framed(one) + framed(two) + framed(three)[:40])
    acks = [ack_fields(client.read_ack())["MSA"][1:3] for _ in range(2)]
    client.send_raw(framed(three)[40:])
    acks.append(ack_fields(client.read_ack())["MSA"][1:3])
    client.close()

    assert acks == [["AA", "C-1"], ["AA", "C-2"], ["AA", "C-3"]]
    assert [bytes(m.raw) for m in InboundMessage.objects.order_by("id")] == [one, two, three]


@pytest.mark.django_db(transaction=True)
def test_bytes_between_frames_are_ignored(listener):
    lab_visit()
    client = MLLPClient(listener.port)

    client.send_raw(b"\r\n  noise\x00\xff\r" + framed(with_control_id("G-1")) + b"\r\n\r\n" + b"junk" * 50)
    client.send_raw(b"\n" + framed(with_control_id("G-2")) + b"\x1c\r")
    acks = [ack_fields(client.read_ack())["MSA"][1:3] for _ in range(2)]
    client.sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        client.read_ack()  # and nothing else: noise is not a message
    client.close()

    assert acks == [["AA", "G-1"], ["AA", "G-2"]]
    assert list(InboundMessage.objects.order_by("id").values_list("control_id", flat=True)) == ["G-1", "G-2"]


@pytest.mark.django_db(transaction=True)
def test_misbehaving_clients_do_not_stop_the_listener_serving_others(listener):
    visit = lab_visit()
    raw = sample(ORU_1)
    stalled = MLLPClient(listener.port)
    stalled.send_raw(b"\x0b" + raw[:300])  # mid-frame, and then silence
    noisy = MLLPClient(listener.port)
    noisy.send_raw(b"GET /hl7/v2 HTTP/1.1\r\nHost: clinic\r\n\r\n" + binary_junk())
    good = MLLPClient(listener.port, timeout=5)

    started = time.monotonic()
    first = ack_fields(good.send(raw))
    served_in = time.monotonic() - started

    stalled.close()  # gone mid-frame
    resetter = MLLPClient(listener.port)
    resetter.send_raw(b"\x0b" + raw[:500])
    resetter.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    resetter.close()  # connection reset mid-frame
    noisy.close()
    second = ack_fields(good.send(with_control_id("STILL-HERE")))
    fresh = MLLPClient(listener.port, timeout=5)
    third = ack_fields(fresh.send(with_control_id("NEW-CONN")))
    good.close()
    fresh.close()

    assert first["MSA"][1:3] == ["AA", "182"] and served_in < 3
    assert second["MSA"][1:3] == ["AA", "STILL-HERE"]
    assert third["MSA"][1:3] == ["AA", "NEW-CONN"]
    # An unfinished frame is not a message (its sender got no ACK and will send it again).
    assert list(InboundMessage.objects.order_by("id").values_list("control_id", flat=True)) == [
        "182",
        "STILL-HERE",
        "NEW-CONN",
    ]
    assert Observation.objects.filter(tenant_id=visit.tenant_id).count() == 10
    wait_for(lambda: listener.connections == 0, timeout=5, what="every connection closed")


BAD_INPUTS = {
    "empty": b"",
    "binary": binary_junk(),
    "json": b'{"resourceType": "Bundle"}',
    "no-msh": b"PID|1||10006579^^^1^MR^1||DUCK^DONALD^D\r",
    "version-2.1": oru_1(**{"|T|2.5|": b"|T|2.1|"}),
    "no-control-id": oru_1(**{"|ORU^R01|182|": b"|ORU^R01||"}),
    "not-a-number": oru_1(**{"||4.06|tera.l-1|": b"||4,06|tera.l-1|"}),
    "unknown-sender": oru_1(**{"MSH|^~\\&|SomeSystem|": b"MSH|^~\\&|OtherLab|"}),
}


@pytest.mark.django_db(transaction=True)
def test_bad_input_over_mllp_gets_the_ack_receive_gives(listener):
    lab_visit()
    client = MLLPClient(listener.port)

    for name, raw in BAD_INPUTS.items():
        over_mllp = client.send(raw)
        direct = receive(raw=raw, transport="mllp", peer="test").ack
        assert ack_fields(over_mllp)["MSA"][1] in ("AR", "AE"), name
        assert msa_and_err(over_mllp) == msa_and_err(direct), name
    client.close()

    over_mllp_rows = InboundMessage.objects.filter(peer__startswith="127.0.0.1:").order_by("id")
    assert [bytes(m.raw) for m in over_mllp_rows] == list(BAD_INPUTS.values())
    assert {m.status for m in over_mllp_rows} == {"rejected"}
    assert charted() == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_a_frame_over_the_store_limit_is_refused_and_its_start_kept(listener, settings):
    lab_visit()
    settings.CLINIC_HL7_MAX_MESSAGE_BYTES = 32 * 1024
    settings.CLINIC_HL7_STORE_BYTES = 64 * 1024
    huge = big_oru(300 * 1024)
    client = no_delay(MLLPClient(listener.port))

    for at in range(0, len(huge), 16 * 1024):  # in pieces, so the listener has to cut it
        client.send_raw((b"\x0b" if at == 0 else b"") + huge[at : at + 16 * 1024])
    client.send_raw(b"\x1c\r")
    ack = ack_fields(client.read_ack())
    after = ack_fields(client.send(with_control_id("NEXT")))
    client.close()

    assert ack["MSA"][1:3] == ["AR", "182"]
    assert [code for _, code in errs(ack)] == ["207"]
    assert after["MSA"][1:3] == ["AA", "NEXT"]
    stored = InboundMessage.objects.get(control_id="182")
    assert stored.status == "rejected" and stored.truncated and stored.size == len(huge)
    assert bytes(stored.raw) == huge[: 64 * 1024]


# --- HTTP: POST /hl7/v2 -----------------------------------------------------------------------


def test_a_result_over_http_is_answered_aa_with_the_ack_as_the_body():
    visit = lab_visit()
    client = hl7_client(visit.clinic.tenant)
    raw = sample(ORU_1)

    response = client.post("/hl7/v2", data=raw, content_type=HL7_MEDIA)

    assert response.status_code == 200
    assert response["Content-Type"].startswith(HL7_MEDIA)
    assert response["X-HL7-Ack-Code"] == "AA"
    ack = ack_fields(response.content.decode())
    assert ack["MSA"][1:3] == ["AA", "182"]
    assert ack["MSH"][8] == "ACK^R01^ACK"
    stored = InboundMessage.objects.get(pk=int(response["X-HL7-Message-Id"]))
    assert stored.transport == "http" and stored.tenant_id == visit.tenant_id and bytes(stored.raw) == raw
    assert stored.acknowledged_at is not None
    assert Observation.objects.filter(tenant_id=visit.tenant_id).count() == 10


def test_text_plain_is_accepted_as_an_hl7_body():
    visit = lab_visit()

    response = hl7_client(visit.clinic.tenant).post("/hl7/v2", data=sample(ORU_1), content_type="text/plain")

    assert response.status_code == 200 and response["X-HL7-Ack-Code"] == "AA"


def test_an_empty_body_over_http_is_answered_ar_and_stored():
    visit = lab_visit()

    response = hl7_client(visit.clinic.tenant).post("/hl7/v2", data=b"", content_type=HL7_MEDIA)

    assert response.status_code == 200 and response["X-HL7-Ack-Code"] == "AR"
    assert errs(ack_fields(response.content.decode())) == [("", "100")]
    stored = assert_stored_rejected(int(response["X-HL7-Message-Id"]), b"", code="AR")
    assert stored.tenant_id == visit.tenant_id  # the authenticated client's


def test_http_without_a_token_is_401_problem_json_and_stores_nothing():
    lab_visit()

    response = APIClient().post("/hl7/v2", data=sample(ORU_1), content_type=HL7_MEDIA)

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 401
    assert not InboundMessage.objects.exists()
    assert charted() == (0, 0, 0)


def test_http_with_a_token_without_hl7_submit_is_403_and_stores_nothing():
    visit = lab_visit()
    client = hl7_client(visit.clinic.tenant, scopes=["api:read", "api:write"])

    response = client.post("/hl7/v2", data=sample(ORU_1), content_type=HL7_MEDIA)

    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    # The scope as an integrator types it, not the enum's repr (<Scope.HL7_SUBMIT: 'hl7:submit'>).
    assert response.json()["detail"] == "This operation requires the scope 'hl7:submit'."
    assert not InboundMessage.objects.exists()
    assert charted() == (0, 0, 0)


def test_http_with_a_json_content_type_is_415_and_stores_nothing():
    visit = lab_visit()

    response = hl7_client(visit.clinic.tenant).post("/hl7/v2", data=sample(ORU_1), content_type="application/json")

    assert response.status_code == 415
    assert response["Content-Type"].startswith("application/problem+json")
    assert "x-application/hl7-v2+er7" in response.json()["detail"]
    assert not InboundMessage.objects.exists()
    assert charted() == (0, 0, 0)


def test_a_message_from_another_clinics_lab_over_http_is_refused_as_unknown_sender():
    theirs = lab_visit()  # SomeSystem is their lab, not ours
    ours = TenantFactory(slug="ours")

    response = hl7_client(ours).post("/hl7/v2", data=sample(ORU_1), content_type=HL7_MEDIA)

    assert response.status_code == 200 and response["X-HL7-Ack-Code"] == "AR"
    ack = ack_fields(response.content.decode())
    assert ack["MSA"][1:3] == ["AR", "182"]
    assert errs(ack) == [("MSH^1^4^1", "204")]
    stored = InboundMessage.objects.get(pk=int(response["X-HL7-Message-Id"]))
    assert (stored.tenant_id, stored.partner_id, stored.status) == (ours.pk, None, "rejected")
    assert charted() == (0, 0, 0)
    assert not InboundMessage.objects.filter(tenant_id=theirs.tenant_id).exists()


def test_a_body_over_the_http_limit_is_413():
    visit = lab_visit()
    huge = b"MSH|" + b"A" * (16 * 1024 * 1024)

    response = hl7_client(visit.clinic.tenant).post("/hl7/v2", data=huge, content_type=HL7_MEDIA)

    assert response.status_code == 413
    assert response.json()["code"] == "body-too-large"
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_10_mb_message_over_http_is_answered_ar_not_413(front_url):
    visit = lab_visit()
    token = api_token(visit.clinic.tenant, name="lab-feed", scopes=["hl7:submit"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": HL7_MEDIA}
    huge = big_oru(TEN_MB)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for at in range(0, len(huge), 1024 * 1024):
            yield huge[at : at + 1024 * 1024]

    with httpx.Client(base_url=front_url, timeout=60) as http:
        sized = http.post("/hl7/v2", content=huge, headers=headers)
        chunked = http.post("/hl7/v2", content=chunks(), headers=headers)

    for response in (sized, chunked):
        assert response.status_code == 200, response.text[:300]
        assert response.headers["X-HL7-Ack-Code"] == "AR"
        ack = ack_fields(response.text)
        assert ack["MSA"][1:3] == ["AR", "182"] and str(TEN_MB) in ack["MSA"][3]
        stored = InboundMessage.objects.get(pk=int(response.headers["X-HL7-Message-Id"]))
        assert stored.status == "rejected" and stored.size == TEN_MB and bytes(stored.raw) == huge
    assert charted() == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_the_same_message_over_http_and_mllp_gets_the_same_ack(listener):
    over_http = lab_visit(slug="north")
    over_mllp = lab_visit(slug="south")  # SomeSystem serves both: MSH-6 names the clinic over MLLP
    # The same message, each copy addressed (MSH-6) to the clinic that receives it.
    comma = {"||4.06|tera.l-1|": b"||4,06|tera.l-1|"}
    messages = {
        clinic: (oru_1(**to), oru_1(**to, **comma))
        for clinic, to in (
            ("north", {"|TransformationAgent||": b"|TransformationAgent|NORTH|"}),
            ("south", {"|TransformationAgent||": b"|TransformationAgent|SOUTH|"}),
        )
    }
    http = hl7_client(over_http.clinic.tenant)
    mllp = MLLPClient(listener.port)

    acks = []
    for index in (1, 0, 0):  # refused, charted, then a byte-identical redelivery
        response = http.post("/hl7/v2", data=messages["north"][index], content_type=HL7_MEDIA)
        acks.append((response["X-HL7-Ack-Code"], response.content.decode(), mllp.send(messages["south"][index])))
    mllp.close()
    # A copy addressed to the other clinic is refused, whoever submits it.
    misrouted = http.post("/hl7/v2", data=messages["south"][0], content_type=HL7_MEDIA)
    assert misrouted["X-HL7-Ack-Code"] == "AR"

    assert [code for code, _, _ in acks] == ["AE", "AA", "AA"]
    for code, via_http, via_mllp in acks:
        assert ack_fields(via_mllp)["MSA"][1] == code
        assert ack_fields(via_http)["MSH"][8] == ack_fields(via_mllp)["MSH"][8]
        # The same text, but for the store ID a duplicate's ACK quotes (each clinic has its own).
        same = [re.sub(r"message \d+", "message N", s) for s in msa_and_err(via_http)]
        assert same == [re.sub(r"message \d+", "message N", s) for s in msa_and_err(via_mllp)]
    assert "Duplicate of message" in acks[2][1]
    for visit in (over_http, over_mllp):
        assert Observation.objects.filter(tenant_id=visit.tenant_id).count() == 10
        statuses = InboundMessage.objects.filter(tenant_id=visit.tenant_id).order_by("id").values_list("status")
        expected = ["rejected", "processed", "duplicate"] + (["rejected"] if visit is over_http else [])
        assert [s for (s,) in statuses] == expected


# --- The mllp_listener command ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"port": 0}, "--port must be 1 to 65535"),
        ({"port": 65536}, "--port must be 1 to 65535"),
        ({"port": 2575, "workers": 0}, "--workers must be 1 to 64"),
        ({"port": 2575, "workers": 65}, "--workers must be 1 to 64"),
    ],
)
def test_the_mllp_listener_command_refuses_bad_arguments(options, complaint):
    with pytest.raises(CommandError, match=complaint):
        call_command("mllp_listener", **options)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("processes", [1, 2])
def test_the_mllp_listener_command_serves_until_interrupted(processes):
    visit = lab_visit()
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        # manage.py's own settings, with the test database (its data is committed:
        # transaction=True) and this run's queues.
        "DATABASE_URL": child_database_url(),
        "CLINIC_QUEUE_PREFIX": django_settings.CLINIC_QUEUE_PREFIX,
    }
    command = subprocess.Popen(
        [
            sys.executable,  # the interpreter running the tests, wherever its environment is
            "manage.py",
            "mllp_listener",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--processes",
            str(processes),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        def connected() -> MLLPClient | None:
            try:
                return MLLPClient(port, timeout=10)
            except ConnectionRefusedError:
                assert command.poll() is None, command.communicate()
                return None

        client = wait_for(connected, timeout=20, what="the listener to accept connections")
        ack = ack_fields(client.send(sample("msfc_LAB-ORM-1.hl7")))
        # More connections at once (spread over the processes by the kernel): each is served.
        others = [MLLPClient(port, timeout=10) for _ in range(4)]
        more = [ack_fields(o.send(sample("msfc_LAB-ORM-1.hl7")))["MSA"][1] for o in others]
        for o in [client, *others]:
            o.close()
        command.send_signal(signal.SIGINT)
        out, _err = command.communicate(timeout=15)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()

    assert ack["MSA"][1:3] == ["AR", "MSGID20060307110114"] and errs(ack) == [("MSH^1^9^1", "200")]
    assert more == ["AR"] * 4
    assert command.returncode == 0
    assert f"MLLP listener on 127.0.0.1:{port}, {processes} process(es)" in out.decode()
    leftovers = subprocess.run(["pgrep", "-f", f"mllp_listener.*--port {port}"], capture_output=True, check=False)
    assert leftovers.stdout == b""  # the children stopped with the parent
    stored = InboundMessage.objects.filter(control_id="MSGID20060307110114").order_by("id").first()
    assert (stored.transport, stored.status, stored.tenant_id) == ("mllp", "rejected", visit.tenant_id)
    assert stored.acknowledged_at is not None  # recorded before the command exited
    assert not InboundMessage.objects.filter(acknowledged_at__isnull=True).exists()  # in every process
