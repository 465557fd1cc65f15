"""The answer to a missing-result ticket (``GET /api/results/trace``), and the admin of the
message store and of the held-results work queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.contracts import Role
from clinic.models import OutboxEvent
from encounters import services as encounters
from identity.models import Patient
from interop.models import InboundMessage, LabPartner
from interop.v2.intake import receive
from interop.v2.store import mark_acknowledged
from results.models import DiagnosticReport, HeldResult
from tests.clinic.factories import MembershipFactory, TenantFactory, UserFactory, api_token
from tests.interop.factories import InboundMessageFactory, LabPartnerFactory
from tests.support.hl7 import ack_fields, lab_visit, place_sample_orders, register_duck, sample
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db

HL7 = "x-application/hl7-v2+er7"


def client_of(tenant, scopes=("hl7:submit", "api:read")) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(tenant, name=f'lab-{len(scopes)}', scopes=list(scopes))}")
    return client


def post_hl7(client: APIClient, raw: bytes):
    response = client.generic("POST", "/hl7/v2", raw, content_type=HL7)  # type: ignore[arg-type]  # bytes go as sent
    assert response.status_code == 200, response.content
    return response


def trace(client: APIClient, **params):
    return client.get("/api/results/trace", params)


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- Trace -----------------------------------------------------------------------------------------


def test_trace_by_accession_lists_every_message_that_carried_it_with_acks_events_and_times():
    visit = lab_visit()
    client = client_of(visit.clinic.tenant)
    first = post_hl7(client, sample("msfc_LAB-ORU-1.hl7"))
    second = post_hl7(client, sample("msfc_LAB-ORU-2.hl7"))

    response = trace(client, accession="82503246")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accession"] == "82503246" and body["count"] == 2
    preliminary, final = body["messages"]
    assert [preliminary["id"], final["id"]] == [int(first["X-HL7-Message-Id"]), int(second["X-HL7-Message-Id"])]
    assert [preliminary["control_id"], final["control_id"]] == ["182", "ControlID"]
    for message, response_ in ((preliminary, first), (final, second)):
        ack = ack_fields(response_.content.decode())
        assert message["status"] == "processed" and message["transport"] == "http"
        assert message["ack"]["code"] == "AA" and message["ack"]["text"] == ack["MSA"][3]
        assert message["ack"]["control_id"] == ack["MSH"][9]  # MSH-10 of our ACK
        assert len(message["events"]) == 2
        stored = InboundMessage.objects.get(pk=message["id"])
        assert message["events"] == [str(e) for e in stored.event_ids]
        assert set(OutboxEvent.objects.filter(id__in=message["events"]).values_list("type", flat=True)) == {
            "result.available"
        }
        received, committed = moment(message["received_at"]), moment(message["committed_at"])
        acknowledged = moment(message["acknowledged_at"])
        assert received <= committed <= acknowledged
        assert message["pushed_at"] is None  # no worker ran: nothing on the timeline yet
        assert sorted(message["accessions"]) == ["82503246", "890775544"]
        assert message["sender"] == {"application": "SomeSystem", "facility": ""}
    assert moment(preliminary["received_at"]) < moment(final["received_at"])


def test_trace_shows_an_mllp_message_acknowledged_once_the_listener_has_written_the_ack():
    visit = lab_visit()
    client = client_of(visit.clinic.tenant)
    receipt = receive(raw=sample("msfc_LAB-ORU-1.hl7"), transport="mllp", peer="127.0.0.1:50000")
    before = trace(client, control_id="182").json()["messages"][0]

    written_at = timezone.now()
    mark_acknowledged([(receipt.message_id, written_at)])
    after = trace(client, control_id="182").json()["messages"][0]

    assert before["transport"] == "mllp" and before["committed_at"] is not None
    assert before["acknowledged_at"] is None
    assert moment(after["acknowledged_at"]) == written_at


def test_trace_by_control_id_finds_every_message_with_that_control_id():
    visit = lab_visit()
    client = client_of(visit.clinic.tenant)
    post_hl7(client, sample("msfc_LAB-ORU-1.hl7"))
    post_hl7(client, sample("msfc_LAB-ORU-1.hl7"))  # the lab resent it

    body = trace(client, control_id="182").json()

    assert body["count"] == 2
    assert [m["status"] for m in body["messages"]] == ["processed", "duplicate"]
    assert body["messages"][1]["duplicate_of"] == body["messages"][0]["id"]
    assert body["messages"][1]["events"] == []
    assert trace(client, control_id="183").json() == {"control_id": "183", "count": 0, "messages": []}


def test_trace_by_placer_number_finds_the_messages_of_our_order():
    visit = lab_visit()
    client = client_of(visit.clinic.tenant)
    post_hl7(client, sample("msfc_LAB-ORU-1.hl7"))

    body = trace(client, placer_number="855238581").json()

    assert body["count"] == 1 and body["messages"][0]["control_id"] == "182"


def test_trace_of_a_held_result_names_its_held_row():
    visit = lab_visit(register=False)
    client = client_of(visit.clinic.tenant)
    post_hl7(client, sample("msfc_LAB-ORU-1.hl7"))

    (message,) = trace(client, accession="82503246").json()["messages"]

    assert message["status"] == "held" and message["ack"]["code"] == "AA"
    assert message["held"] == str(HeldResult.objects.get().pk)
    assert message["events"] == [] and message["committed_at"] is not None


@pytest.mark.parametrize(
    "params",
    [{}, {"accession": "82503246", "control_id": "182"}, {"accession": "  "}, {"control_id": "x" * 201}],
    ids=["none", "two", "blank", "too-long"],
)
def test_trace_needs_exactly_one_usable_parameter(params):
    response = trace(client_of(TenantFactory()), **params)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 400


def test_trace_lists_the_newest_hundred_messages_oldest_first():
    partner = LabPartnerFactory()
    start = timezone.now() - timedelta(hours=1)
    messages = [
        InboundMessageFactory(partner=partner, accessions=["A1"], received_at=start + timedelta(seconds=i))
        for i in range(102)
    ]
    InboundMessageFactory(partner=partner, accessions=["A2"])

    body = trace(client_of(partner.tenant), accession="A1").json()

    assert body["count"] == 100
    assert [m["id"] for m in body["messages"]] == [m.pk for m in messages[2:]]


def test_trace_never_shows_another_tenants_messages():
    visit = lab_visit()
    post_hl7(client_of(visit.clinic.tenant), sample("msfc_LAB-ORU-1.hl7"))
    stranger = client_of(TenantFactory())

    by_accession = trace(stranger, accession="82503246").json()
    by_control_id = trace(stranger, control_id="182").json()

    assert by_accession["count"] == 0 and by_accession["messages"] == []
    assert by_control_id["count"] == 0


def test_trace_needs_a_token_with_read_scope():
    anonymous = APIClient().get("/api/results/trace", {"accession": "82503246"})
    submit_only = trace(client_of(TenantFactory(), scopes=("hl7:submit",)), accession="82503246")

    assert anonymous.status_code == 401
    assert submit_only.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_trace_shows_when_the_result_reached_the_encounter_timeline(celery_worker):
    visit = lab_visit()
    client = client_of(visit.clinic.tenant)
    post_hl7(client, sample("msfc_LAB-ORU-1.hl7"))

    message = wait_for(
        lambda: next((m for m in trace(client, accession="82503246").json()["messages"] if m["pushed_at"]), None),
        what="the result to be pushed to the encounter",
    )

    assert {t["encounter"] for t in message["timeline"]} == {str(visit.encounter.pk)}
    assert {t["event"] for t in message["timeline"]} == set(message["events"])
    assert moment(message["committed_at"]) <= moment(message["pushed_at"])
    assert moment(message["received_at"]) <= moment(message["acknowledged_at"])


# --- Admin: held results --------------------------------------------------------------------------


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def tenant_admin_of(client, tenant):
    membership = MembershipFactory(role=Role.ADMIN.value, user=UserFactory(is_staff=True), tenant=tenant)
    client.force_login(membership.user)
    return client


def hold_unknown_mrn(visit) -> HeldResult:
    """ORU-1 for Donald Duck under a lab MRN we have never seen: held, patient unknown."""
    receive(
        raw=sample("msfc_LAB-ORU-1.hl7").replace(b"|10006579^^^1^MR^1|", b"|77777777^^^1^MR^1|"),
        transport="mllp",
        peer="test",
    )
    return HeldResult.objects.get(tenant_id=visit.tenant_id)


def test_the_held_results_queue_lists_each_held_result_with_its_reason(operator):
    visit = lab_visit()
    held = hold_unknown_mrn(visit)

    response = operator.get("/admin/results/heldresult/")

    assert response.status_code == 200
    assert [h.pk for h in response.context["cl"].result_list] == [held.pk]
    assert "patient-unknown" in response.content.decode()
    searched = operator.get("/admin/results/heldresult/", {"q": "82503246"})
    assert [h.pk for h in searched.context["cl"].result_list] == [held.pk]


def test_the_file_view_shows_why_the_result_is_held(operator):
    visit = lab_visit()
    held = hold_unknown_mrn(visit)

    response = operator.get(f"/admin/results/heldresult/{held.pk}/file/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "No patient of this clinic holds the PID-3 identifiers" in html
    assert "88502218" in html and "82503246" in html


def test_an_admin_files_a_held_result_to_a_chosen_patient_from_the_file_view(operator):
    visit = lab_visit()
    held = hold_unknown_mrn(visit)

    response = operator.post(
        f"/admin/results/heldresult/{held.pk}/file/", {"patient": str(visit.patient_id), "confirm": "1"}
    )

    assert response.status_code == 302 and response["Location"] == "/admin/results/heldresult/"
    held.refresh_from_db()
    assert held.status == "filed" and held.released_by.startswith("user:")
    reports = DiagnosticReport.objects.filter(tenant_id=visit.tenant_id)
    assert reports.count() == 2 and {r.patient_id for r in reports} == {visit.patient_id}
    assert any("Filed:" in str(m) for m in get_messages(response.wsgi_request))


def test_the_file_view_reports_a_patient_id_that_is_not_a_uuid_and_files_nothing(operator):
    visit = lab_visit()
    held = hold_unknown_mrn(visit)

    response = operator.post(f"/admin/results/heldresult/{held.pk}/file/", {"patient": "duck", "confirm": "1"})

    assert response.status_code == 200
    assert "The patient ID is not a UUID." in response.content.decode()
    assert HeldResult.objects.get(pk=held.pk).status == "held"
    assert not DiagnosticReport.objects.exists()


def test_the_file_view_reports_a_result_that_still_cannot_be_matched(operator):
    visit = lab_visit()
    held = hold_unknown_mrn(visit)

    response = operator.post(f"/admin/results/heldresult/{held.pk}/file/", {"confirm": "1"})  # retry the lookup

    assert response.status_code == 200
    assert "No patient of this clinic holds" in response.content.decode()
    assert HeldResult.objects.get(pk=held.pk).status == "held"


def test_a_tenant_admin_cannot_open_another_tenants_held_result(client):
    visit = lab_visit()
    held = hold_unknown_mrn(visit)
    tenant_admin_of(client, TenantFactory())

    assert client.get(f"/admin/results/heldresult/{held.pk}/file/").status_code == 404
    assert (
        client.post(
            f"/admin/results/heldresult/{held.pk}/file/", {"patient": str(visit.patient_id), "confirm": "1"}
        ).status_code
        == 404
    )
    assert HeldResult.objects.get(pk=held.pk).status == "held"


def test_retry_lookup_charts_the_held_results_whose_patient_and_orders_are_now_known(operator):
    visit = lab_visit(register=False)
    receive(raw=sample("msfc_LAB-ORU-1.hl7"), transport="mllp", peer="test")
    held = HeldResult.objects.get()
    # Registered and ordered since; no worker runs here, so only the admin's retry can chart it.
    patient = register_duck(visit.tenant_id)
    encounter = encounters.open_walk_in(
        tenant_id=visit.tenant_id, patient_id=patient.id, site_id=visit.clinic.site.pk, actor="t"
    )
    place_sample_orders(visit.tenant_id, encounter.pk)

    response = operator.post(
        "/admin/results/heldresult/", {"action": "retry_lookup", "_selected_action": [str(held.pk)]}, follow=True
    )

    assert "1 result(s) charted; 0 still cannot be matched." in response.content.decode()
    assert HeldResult.objects.get(pk=held.pk).status == "filed"
    assert set(DiagnosticReport.objects.values_list("patient_id", flat=True)) == {patient.id}


# --- Admin: the message store ----------------------------------------------------------------------


def test_the_message_store_searches_by_control_id_accession_patient_and_message_id(operator):
    visit = lab_visit()
    oru_1 = receive(raw=sample("msfc_LAB-ORU-1.hl7"), transport="mllp", peer="test").message_id
    oru_2 = receive(raw=sample("msfc_LAB-ORU-2.hl7"), transport="mllp", peer="test").message_id
    garbage = receive(raw=b"hello", transport="mllp", peer="test").message_id

    def found(q):
        response = operator.get("/admin/interop/inboundmessage/", {"q": q})
        assert response.status_code == 200
        return sorted(m.pk for m in response.context["cl"].result_list)

    assert found("182") == [oru_1]
    assert found("ControlID") == [oru_2]
    assert found("82503246") == sorted([oru_1, oru_2])
    assert found("855238581") == sorted([oru_1, oru_2])  # our placer number
    assert found(str(visit.patient_id)) == sorted([oru_1, oru_2])
    assert found(str(garbage)) == [garbage]
    assert found("nothing-like-it") == []
    filtered = operator.get("/admin/interop/inboundmessage/", {"status__exact": "rejected"})
    assert [m.pk for m in filtered.context["cl"].result_list] == [garbage]


def test_the_message_store_searches_by_held_result_and_by_the_control_id_of_our_ack(operator):
    held = InboundMessageFactory(status="held", held_id=uuid4())
    acknowledged = InboundMessageFactory(ack_control_id="0A1B2C3D4E5F")
    InboundMessageFactory()

    def found(q):
        return [m.pk for m in operator.get("/admin/interop/inboundmessage/", {"q": q}).context["cl"].result_list]

    assert found(str(held.held_id)) == [held.pk]
    assert found("0A1B2C3D4E5F") == [acknowledged.pk]


def test_a_stored_message_shows_its_decoded_text_and_no_raw_bytes_field(operator):
    message = InboundMessageFactory(raw=sample("msfc_LAB-ORU-1.hl7"))

    response = operator.get(f"/admin/interop/inboundmessage/{message.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "MSH|^~\\&amp;|SomeSystem||TransformationAgent" in html
    assert "OBX|2|NM|11273-0^ERYTHROCYTES^LN||4.06" in html
    assert 'name="raw"' not in html
    assert "Reprocess the selected messages" in operator.get("/admin/interop/inboundmessage/").content.decode()


def test_messages_of_unknown_senders_are_visible_to_operators_only(client, operator):
    message = InboundMessageFactory()
    ours = message.pk
    unknown = InboundMessageFactory(partner=None, tenant=None, status="rejected", ack_code="AR").pk

    everything = sorted(m.pk for m in operator.get("/admin/interop/inboundmessage/").context["cl"].result_list)
    tenant_admin_of(client, message.tenant)
    theirs = [m.pk for m in client.get("/admin/interop/inboundmessage/").context["cl"].result_list]

    assert everything == sorted([ours, unknown])
    assert theirs == [ours]
    assert client.get(f"/admin/interop/inboundmessage/{unknown}/change/").status_code == 404
    assert client.get(f"/admin/interop/inboundmessage/{ours}/change/").status_code == 200


def test_a_tenant_admin_sees_only_their_tenants_messages(client):
    InboundMessageFactory(accessions=["82503246"])
    tenant_admin_of(client, TenantFactory())

    response = client.get("/admin/interop/inboundmessage/", {"q": "82503246"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_reprocess_charts_a_message_refused_before_its_lab_was_registered(operator):
    visit = lab_visit()
    LabPartner.objects.filter(pk=visit.partner.pk).update(active=False)
    refused = receive(raw=sample("msfc_LAB-ORU-1.hl7"), transport="mllp", peer="test")
    assert ack_fields(refused.ack)["MSA"][1] == "AR"
    LabPartner.objects.filter(pk=visit.partner.pk).update(active=True)  # the admin fixed the cause

    response = operator.post(
        "/admin/interop/inboundmessage/",
        {"action": "reprocess", "_selected_action": [str(refused.message_id)]},
        follow=True,
    )

    assert "Reprocessed 1 message(s): 1 AA processed." in response.content.decode()
    original = InboundMessage.objects.get(pk=refused.message_id)
    assert original.status == "rejected" and original.ack_code == "AR"  # kept as it was
    again = InboundMessage.objects.get(reprocess_of=original)
    assert again.status == "processed" and again.tenant_id == visit.tenant_id
    assert again.peer == f"reprocess:{original.pk}"
    assert DiagnosticReport.objects.filter(tenant_id=visit.tenant_id).count() == 2


def test_reprocessing_a_charted_message_charts_nothing_again(operator):
    visit = lab_visit()
    charted = receive(raw=sample("msfc_LAB-ORU-1.hl7"), transport="mllp", peer="test").message_id
    reports = DiagnosticReport.objects.count()

    operator.post("/admin/interop/inboundmessage/", {"action": "reprocess", "_selected_action": [str(charted)]})

    again = InboundMessage.objects.get(reprocess_of_id=charted)
    assert again.status == "duplicate" and again.ack_code == "AA"
    assert DiagnosticReport.objects.count() == reports
    assert Patient.objects.filter(tenant_id=visit.tenant_id).count() == 1
