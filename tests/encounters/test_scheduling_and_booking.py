"""Slots from weekly templates; booking under the 08:00 rush; cancel and reschedule."""

from __future__ import annotations

import datetime
import threading
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.models import OutboxEvent
from encounters import services
from encounters.models import Appointment
from tests.encounters.factories import SlotFactory
from tests.support.identity import NHS_NUMBERS, register
from tests.support.visit import make_clinic

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic():
    return make_clinic()


@pytest.fixture
def api(clinic):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clinic.token}")
    return client


@pytest.fixture
def patient(clinic):
    return register(clinic.tenant, nhs=NHS_NUMBERS[0])


def test_slots_are_generated_from_the_weekly_template_in_the_sites_time_zone(clinic):
    slots = clinic.slots()
    first = slots[0].start_at.astimezone(ZoneInfo("Europe/London"))

    assert len(slots) == 3 * 12  # 3 days x 09:00-12:00 in 15 minutes
    assert (
        services.generate_slots(tenant_id=clinic.tenant.pk, start=timezone.localdate(), days=5) == 2 * 12
    )  # one new day, two practitioners
    assert (first.hour, first.minute) == (9, 0)
    assert slots[1].start_at - slots[0].start_at == datetime.timedelta(minutes=15)
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    assert services.generate_slots(tenant_id=clinic.tenant.pk, start=tomorrow, days=3) == 0  # idempotent


def test_practitioners_and_free_slots_are_listed(api, clinic, patient):
    first = clinic.slots()[0]
    services.book(tenant_id=clinic.tenant.pk, slot_id=first.pk, patient_id=patient.id, actor="t")
    day = first.start_at.astimezone(ZoneInfo("Europe/London")).date()

    practitioners = api.get("/api/practitioners").json()["results"]
    free = api.get("/api/slots", {"practitioner": clinic.doctor.pk, "date": day.isoformat(), "free": "true"}).json()
    every = api.get("/api/slots", {"practitioner": clinic.doctor.pk, "date": day.isoformat()}).json()

    assert [p["name"] for p in practitioners] == ["Dr Who", "Nurse Joy"]
    assert len(free["results"]) == 11
    assert first.pk not in {s["id"] for s in free["results"]}
    assert [s["free"] for s in every["results"]][:2] == [False, True]


def test_booking_a_slot(api, clinic, patient):
    slot = clinic.slots()[0]

    response = api.post(
        "/api/appointments", {"slot": slot.pk, "patient": str(patient.id), "reason": "cough"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["patient"], body["slot"]["id"]) == ("booked", str(patient.id), slot.pk)
    assert OutboxEvent.objects.filter(type="appointment.booked", patient_id=patient.id).count() == 1


def test_a_taken_slot_is_a_409_with_the_next_free_slots(api, clinic, patient):
    first, second, third = clinic.slots()[:3]
    services.book(tenant_id=clinic.tenant.pk, slot_id=first.pk, patient_id=patient.id, actor="t")
    other = register(clinic.tenant, nhs=NHS_NUMBERS[1], family="Jones")

    response = api.post("/api/appointments", {"slot": first.pk, "patient": str(other.id)}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "slot-taken"
    assert [s["id"] for s in response.json()["next_free_slots"]][:2] == [second.pk, third.pk]


def test_thirty_two_clients_racing_for_one_slot_book_it_once(transactional_db, clinic):
    patients = [register(clinic.tenant, nhs=None, mrn=f"P-{i}", family=f"F{i}") for i in range(32)]
    slot = clinic.slots()[0]
    barrier = threading.Barrier(32)
    statuses: list[int] = []

    def book(patient_id):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {clinic.token}")
        barrier.wait()
        try:
            statuses.append(
                client.post(
                    "/api/appointments", {"slot": slot.pk, "patient": str(patient_id)}, format="json"
                ).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(p.id,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [409] * 31
    assert Appointment.objects.filter(slot=slot).exclude(status="cancelled").count() == 1


def test_a_retried_booking_with_its_idempotency_key_returns_the_first(api, clinic, patient):
    slot = clinic.slots()[0]
    body = {"slot": slot.pk, "patient": str(patient.id)}

    first = api.post("/api/appointments", body, format="json", HTTP_IDEMPOTENCY_KEY="book-1")
    retry = api.post("/api/appointments", body, format="json", HTTP_IDEMPOTENCY_KEY="book-1")

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"slot": 999999, "patient": "PATIENT"}, 404, None),
        ({"slot": "SLOT", "patient": str(uuid.uuid4())}, 404, None),
        ({"slot": "one", "patient": "PATIENT"}, 422, "slot"),
        ({"slot": "SLOT", "patient": "not-a-uuid"}, 422, "patient"),
    ],
)
def test_bad_bookings_are_refused_with_the_reason(api, clinic, patient, body, status, field):
    slot = clinic.slots()[0]
    body = {k: (slot.pk if v == "SLOT" else str(patient.id) if v == "PATIENT" else v) for k, v in body.items()}

    response = api.post("/api/appointments", body, format="json")

    assert response.status_code == status
    if field:
        assert field in {e["field"] for e in response.json()["errors"]}
    assert not Appointment.objects.exists()


def test_a_past_slot_cannot_be_booked(api, clinic, patient):
    past = SlotFactory(
        practitioner=clinic.doctor, site=clinic.site, start_at=timezone.now() - datetime.timedelta(hours=1)
    )

    response = api.post("/api/appointments", {"slot": past.pk, "patient": str(patient.id)}, format="json")

    assert response.status_code == 422
    assert response.json()["code"] == "slot-in-the-past"


def test_another_tenants_slot_or_patient_is_404(api, clinic, patient):
    other = make_clinic()
    theirs = register(other.tenant, nhs=NHS_NUMBERS[2])

    their_slot = api.post("/api/appointments", {"slot": other.slots()[0].pk, "patient": str(patient.id)}, format="json")
    their_patient = api.post(
        "/api/appointments", {"slot": clinic.slots()[0].pk, "patient": str(theirs.id)}, format="json"
    )

    assert their_slot.status_code == their_patient.status_code == 404


def test_cancel_frees_the_slot_and_reschedule_moves_the_booking(api, clinic, patient):
    first, second = clinic.slots()[:2]
    booked = api.post("/api/appointments", {"slot": first.pk, "patient": str(patient.id)}, format="json").json()

    moved = api.post(f"/api/appointments/{booked['id']}/reschedule", {"slot": second.pk}, format="json")
    cancelled = api.post(f"/api/appointments/{moved.json()['id']}/cancel")
    again = api.post("/api/appointments", {"slot": first.pk, "patient": str(patient.id)}, format="json")

    assert moved.status_code == 201
    assert (moved.json()["slot"]["id"], moved.json()["rescheduled_from"]) == (second.pk, booked["id"])
    assert Appointment.objects.get(pk=booked["id"]).status == "cancelled"
    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 201


def test_rescheduling_into_a_taken_slot_keeps_the_original(api, clinic, patient):
    first, second = clinic.slots()[:2]
    booked = api.post("/api/appointments", {"slot": first.pk, "patient": str(patient.id)}, format="json").json()
    services.book(
        tenant_id=clinic.tenant.pk,
        slot_id=second.pk,
        patient_id=register(clinic.tenant, mrn="X-1", family="X").id,
        actor="t",
    )

    response = api.post(f"/api/appointments/{booked['id']}/reschedule", {"slot": second.pk}, format="json")

    assert response.status_code == 409
    assert Appointment.objects.get(pk=booked["id"]).status == "booked"


def test_booking_a_merged_patient_books_the_survivor(clinic):
    from identity.facade import merge_patients

    source, target = register(clinic.tenant, mrn="S-1"), register(clinic.tenant, mrn="T-1", family="Jones")
    with transaction.atomic():
        merge_patients(tenant_id=clinic.tenant.pk, source_id=source.id, target_id=target.id, reason="dup", actor="t")

    appointment, _ = services.book(
        tenant_id=clinic.tenant.pk, slot_id=clinic.slots()[0].pk, patient_id=source.id, actor="t"
    )

    assert appointment.patient_id == target.id


@pytest.mark.parametrize(
    "page",
    [
        "/admin/encounters/practitioner/",
        "/admin/encounters/slot/",
        "/admin/encounters/appointment/",
        "/admin/encounters/encounter/",
    ],
)
def test_encounter_admin_pages_render_for_a_tenant_admin(client, clinic, patient, page):
    from clinic.contracts import Role
    from tests.clinic.factories import MembershipFactory, UserFactory

    services.book(tenant_id=clinic.tenant.pk, slot_id=clinic.slots()[0].pk, patient_id=patient.id, actor="t")
    client.force_login(
        MembershipFactory(tenant=clinic.tenant, role=Role.ADMIN.value, user=UserFactory(is_staff=True)).user
    )

    assert client.get(page).status_code == 200


def test_booking_by_identifier_goes_through_identity(api, clinic, patient):
    from identity.contracts import NHS_NUMBER_SYSTEM

    slot = clinic.slots()[0]

    booked = api.post(
        "/api/appointments",
        {"slot": slot.pk, "patient_identifier": {"system": NHS_NUMBER_SYSTEM, "value": "943 476 5919"}},
        format="json",
    )
    unknown = api.post(
        "/api/appointments",
        {"slot": clinic.slots()[1].pk, "patient_identifier": {"system": NHS_NUMBER_SYSTEM, "value": NHS_NUMBERS[3]}},
        format="json",
    )
    both = api.post(
        "/api/appointments",
        {
            "slot": slot.pk,
            "patient": str(patient.id),
            "patient_identifier": {"system": NHS_NUMBER_SYSTEM, "value": "x"},
        },
        format="json",
    )

    assert (booked.status_code, booked.json()["patient"]) == (201, str(patient.id))
    assert unknown.status_code == 404
    assert both.status_code == 422


def test_admin_filters_and_inlines_show_only_the_admins_tenant(client, clinic, patient):
    from clinic.contracts import Role
    from tests.clinic.factories import MembershipFactory, UserFactory

    other = make_clinic(days=1)
    other.doctor.name = "Dr Elsewhere"
    other.doctor.save()
    client.force_login(
        MembershipFactory(tenant=clinic.tenant, role=Role.ADMIN.value, user=UserFactory(is_staff=True)).user
    )

    slots = client.get("/admin/encounters/slot/").content.decode()
    practitioner = client.get(f"/admin/encounters/practitioner/{clinic.doctor.pk}/change/").content.decode()

    assert "Dr Who" in slots
    assert "Dr Elsewhere" not in slots
    assert "09:00" in practitioner  # the schedule templates inline is visible to a tenant admin


def test_every_model_has_its_plural_name():
    from django.apps import apps

    plurals = {m.__name__: str(m._meta.verbose_name_plural) for m in apps.get_app_config("encounters").get_models()}

    assert plurals["TimelineEntry"] == "timeline entries"
    assert [name for name, plural in plurals.items() if plural.endswith("ys")] == []
