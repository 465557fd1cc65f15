"""Orders reach the lab as ORM^O01 over MLLP, once per order version, until acknowledged."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone
from hl7apy.parser import parse_message

from billing.demo import seed as seed_demo_fees
from clinic import outbox as kernel
from clinic.models import OutboxEvent
from encounters import services as encounters
from interop import services
from interop.handlers import send_order_to_lab
from interop.models import LabPartner, OutboundMessage
from interop.v2 import outbound_orders
from orders import services as orders
from terminology.demo import seed_in_transaction as seed_demo_catalogue
from tests.support.fake_lab import FakeLab
from tests.support.identity import NHS_NUMBERS, register
from tests.support.visit import make_clinic
from tests.support.waiting import wait_for
from tests.support.worker import running_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lab():
    lab = FakeLab().start()
    yield lab
    lab.stop()


@pytest.fixture
def visit(lab):
    clinic = make_clinic(days=1)
    seed_demo_catalogue(tenant_id=clinic.tenant.pk)
    seed_demo_fees(tenant_id=clinic.tenant.pk)
    services.create_lab_partner(
        tenant_id=clinic.tenant.pk,
        name="Acme Lab",
        facility="ACME",
        application="LAB",
        mllp_host="127.0.0.1",
        mllp_port=lab.port,
    )
    patient = register(clinic.tenant, nhs=NHS_NUMBERS[0], family="Smith", given=("Ada",))
    encounter = encounters.open_walk_in(
        tenant_id=clinic.tenant.pk, patient_id=patient.id, site_id=clinic.site.pk, actor="t"
    )
    return clinic, encounter


def place(clinic, encounter, *codes):
    placed, _ = orders.place_orders(
        tenant_id=clinic.tenant.pk, encounter_id=encounter.pk, codes=list(codes), actor="user:1"
    )
    return placed


def segments(message: str) -> dict[str, list[str]]:
    return {line.split("|")[0]: line.split("|") for line in message.split("\r") if line}


def test_a_placed_order_reaches_the_lab_as_a_valid_orm_and_is_acknowledged(celery_worker, lab, visit):
    clinic, encounter = visit
    [order] = place(clinic, encounter, "FBC")

    wait_for(lambda: OutboundMessage.objects.filter(status="acked").exists(), what="the lab's ACK")

    assert len(lab.received) == 1
    message = lab.received[0]
    parsed = parse_message(message, validation_level=2)  # strict HL7 v2.5 parse
    assert parsed.msh.msh_9.to_er7() == "ORM^O01^ORM_O01"
    seg = segments(message)
    assert seg["MSH"][4:6] == ["LAB", "ACME"]
    assert seg["PID"][3].split("~")[0].split("^")[3:5] == [clinic.tenant.slug.upper(), "MR"]
    assert f"{NHS_NUMBERS[0]}^^^NHS^NH" in seg["PID"][3]
    assert seg["PID"][5] == "Smith^Ada"
    assert seg["PV1"][19] == encounter.visit_number
    assert seg["ORC"][1:3] == ["NW", order.placer_number]
    assert seg["OBR"][4] == "24317-0^Hemogram and platelet count, automated^LN^FBC^Full blood count^L"
    sent = OutboundMessage.objects.get()
    assert (sent.ack_code, sent.order_version, sent.attempts) == ("AA", 1, 1)


def test_cancelling_sends_a_ca_for_the_next_order_version(celery_worker, lab, visit):
    clinic, encounter = visit
    [order] = place(clinic, encounter, "TSH")
    orders.cancel_order(tenant_id=clinic.tenant.pk, order_id=order.pk, actor="user:1")

    wait_for(lambda: OutboundMessage.objects.filter(status="acked").count() == 2, what="two ACKs")

    controls = sorted((m.order_version, m.order_control) for m in OutboundMessage.objects.all())
    assert controls == [(1, "NW"), (2, "CA")]
    assert sorted(segments(m)["ORC"][1] for m in lab.received) == ["CA", "NW"]


def test_messages_to_one_lab_are_sent_side_by_side_none_left_behind(celery_worker, lab, visit):
    # A slow lab: each send holds its message for a second, so the two sends overlap. One
    # must not make the other skip (they share the lab partner, which nobody may lock).
    clinic, encounter = visit
    lab.delay = 1.0
    place(clinic, encounter, "FBC", "TSH")

    wait_for(lambda: OutboundMessage.objects.filter(status="acked").count() == 2, what="both ACKs")

    assert sorted(OutboundMessage.objects.values_list("attempts", flat=True)) == [1, 1]
    assert len(lab.received) == 2


def test_a_message_whose_send_was_never_handed_over_is_sent_by_the_sweep(broker_up, lab, visit):
    clinic, encounter = visit
    broker_up.down()
    place(clinic, encounter, "FBC")
    event = OutboxEvent.objects.get(type="order.placed")
    with transaction.atomic():
        send_order_to_lab(kernel.as_contract(event))  # the subscriber; its hand-over fails
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts, len(lab.received)) == ("pending", 0, 0)

    OutboundMessage.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=1))
    assert outbound_orders.sweep_outbound() == 0  # not due yet
    OutboundMessage.objects.update(next_attempt_at=timezone.now())
    broker_up.up()
    with running_worker():
        assert outbound_orders.sweep_outbound() == 1  # what beat does every 30 s
        wait_for(lambda: OutboundMessage.objects.filter(status="acked").exists(), what="the swept message's ACK")

    assert OutboundMessage.objects.get().attempts == 1
    assert len(lab.received) == 1


def test_send_now_in_admin_sends_a_waiting_message_at_once(broker_up, lab, visit, admin_client):
    clinic, encounter = visit
    broker_up.down()
    place(clinic, encounter, "FBC")
    with transaction.atomic():
        send_order_to_lab(kernel.as_contract(OutboxEvent.objects.get(type="order.placed")))
    OutboundMessage.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=5))  # next try far off
    broker_up.up()

    with running_worker():
        response = admin_client.post(
            "/admin/interop/outboundmessage/",
            {"action": "send_now", "_selected_action": [str(OutboundMessage.objects.get().pk)]},
            follow=True,
        )
        assert "Queued 1 message(s) for sending." in response.content.decode()
        wait_for(lambda: OutboundMessage.objects.filter(status="acked").exists(), what="the ACK")

    assert len(lab.received) == 1


def test_a_redelivered_order_event_sends_nothing_new(celery_worker, lab, visit):
    clinic, encounter = visit
    place(clinic, encounter, "FBC")
    wait_for(lambda: OutboundMessage.objects.filter(status="acked").exists(), what="the first ACK")
    event = OutboxEvent.objects.get(type="order.placed")

    with transaction.atomic():
        send_order_to_lab(kernel.as_contract(event))  # as if the subscriber ran again

    assert OutboundMessage.objects.count() == 1
    assert len(lab.received) == 1


def test_a_lab_that_is_down_delays_delivery_and_loses_nothing(celery_worker, lab, visit):
    clinic, encounter = visit
    lab.stop()
    place(clinic, encounter, "CRP")

    wait_for(lambda: OutboundMessage.objects.filter(attempts__gte=2).exists(), what="failed attempts")
    waiting = OutboundMessage.objects.get()
    assert waiting.status == "pending"
    assert "ConnectionRefusedError" in waiting.last_error

    lab.start()  # same port
    wait_for(
        lambda: OutboundMessage.objects.filter(status="acked").exists(),
        timeout=20,
        what="delivery once the lab is back",
    )
    assert len(lab.received) == 1


def test_a_lab_that_rejects_the_message_is_recorded_and_not_retried(celery_worker, lab, visit):
    clinic, encounter = visit
    lab.answer = "AR"
    place(clinic, encounter, "FBC")

    wait_for(lambda: OutboundMessage.objects.filter(status="rejected").exists(), what="the rejection")
    rejected = OutboundMessage.objects.get()
    assert (rejected.ack_code, rejected.ack_text, rejected.attempts) == ("AR", "Unknown test code", 1)
    assert len(lab.received) == 1


def test_without_a_lab_partner_orders_are_not_sent_and_events_still_deliver(celery_worker, visit):
    clinic, encounter = visit
    LabPartner.objects.all().delete()
    place(clinic, encounter, "FBC")

    wait_for(
        lambda: OutboxEvent.objects.filter(type="order.placed", delivered_at__isnull=False).exists(), what="delivery"
    )
    assert OutboundMessage.objects.count() == 0


def test_create_lab_partner_command(visit):
    clinic, _ = visit
    out = io.StringIO()

    call_command(
        "create_lab_partner", "--tenant", clinic.tenant.slug, "--name", "Beta Lab", "--facility", "BETA", stdout=out
    )

    assert "Lab partner Beta Lab (BETA), orders to no MLLP address" in out.getvalue()
    with pytest.raises(CommandError, match="give both a host and a port"):
        call_command(
            "create_lab_partner", "--tenant", clinic.tenant.slug, "--name", "G", "--facility", "G", "--mllp-host", "x"
        )
    with pytest.raises(CommandError, match="already has a lab partner named 'Beta Lab'"):
        call_command("create_lab_partner", "--tenant", clinic.tenant.slug, "--name", "Beta Lab", "--facility", "BETA")


def test_a_cancel_never_reaches_the_lab_before_its_order(celery_worker, lab, visit):
    clinic, encounter = visit
    lab.stop()
    [order] = place(clinic, encounter, "TSH")
    wait_for(lambda: OutboundMessage.objects.filter(attempts__gte=1).exists(), what="a failed first attempt")
    orders.cancel_order(tenant_id=clinic.tenant.pk, order_id=order.pk, actor="user:1")
    wait_for(lambda: OutboundMessage.objects.count() == 2, what="the cancel queued")

    lab.start()
    wait_for(lambda: OutboundMessage.objects.filter(status="acked").count() == 2, timeout=30, what="both delivered")

    assert [segments(m)["ORC"][1] for m in lab.received] == ["NW", "CA"]  # in this order, not sorted


def test_free_text_cannot_break_the_message_structure(celery_worker, lab, visit):
    clinic, encounter = visit
    orders.place_orders(
        tenant_id=clinic.tenant.pk,
        encounter_id=encounter.pk,
        codes=["FBC"],
        specimen_note="fasting\rPID|||999^^^EVIL^MR\nline two",
        actor="user:1",
    )

    wait_for(lambda: OutboundMessage.objects.filter(status="acked").exists(), what="the ACK")
    lines = [line.split("|")[0] for line in lab.received[0].split("\r") if line]
    assert lines == ["MSH", "PID", "PV1", "ORC", "OBR"]
    assert segments(lab.received[0])["OBR"][13] == "fasting PID\\F\\\\F\\\\F\\999\\S\\\\S\\\\S\\EVIL\\S\\MR line two"


# --- The lab's outbound profile (ADR 0010) --------------------------------------------------------


def test_a_lab_on_the_loi_profile_gets_an_oml_o21_naming_the_ordering_provider(celery_worker, lab, visit):
    clinic, _ = visit
    LabPartner.objects.update(outbound_profile="oml-o21-v2.5.1-loi")
    patient = register(clinic.tenant, nhs=NHS_NUMBERS[1], family="Jones", given=("Bo",))
    encounter = encounters.open_walk_in(
        tenant_id=clinic.tenant.pk,
        patient_id=patient.id,
        site_id=clinic.site.pk,
        practitioner_id=clinic.doctor.pk,
        actor="t",
    )
    [order] = place(clinic, encounter, "FBC")

    wait_for(lambda: OutboundMessage.objects.filter(status="acked").exists(), what="the lab's ACK")

    (message,) = lab.received
    assert parse_message(message, validation_level=2).name == "OML_O21"
    seg = segments(message)
    assert seg["MSH"][8] == "OML^O21^OML_O21" and seg["MSH"][20].startswith("LOI_Common_Component")  # MSH-9, MSH-21
    assert seg["ORC"][12] == f"{clinic.doctor.pk}^Dr Who^^^^^^^{clinic.tenant.slug.upper()}"
    assert seg["OBR"][2] == order.placer_number and seg["SPM"][4] == "119297000^Blood specimen^SCT"
    assert OutboundMessage.objects.get().message_type == "OML^O21"


def test_an_order_the_labs_profile_cannot_take_is_kept_with_the_field_and_never_sent(celery_worker, lab, visit):
    clinic, _ = visit
    LabPartner.objects.update(outbound_profile="orm-o01-v2.5-regional")  # the NHS number or nothing
    patient = register(clinic.tenant, family="Nobody", given=("No",))  # no NHS number
    encounter = encounters.open_walk_in(
        tenant_id=clinic.tenant.pk,
        patient_id=patient.id,
        site_id=clinic.site.pk,
        practitioner_id=clinic.doctor.pk,
        actor="t",
    )
    place(clinic, encounter, "FBC")

    wait_for(lambda: OutboundMessage.objects.exists(), what="the order message")

    kept = OutboundMessage.objects.get()
    assert kept.status == "invalid" and kept.payload == "" and kept.next_attempt_at is None
    assert kept.last_error.startswith("Profile orm-o01-v2.5-regional: PID-3 is required by the profile")
    assert outbound_orders.sweep_outbound() == 0
    assert lab.received == []
