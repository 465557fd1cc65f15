"""Booking, cancelling, rescheduling, check-in, walk-ins and the day list."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone

from clinic.contracts import Role
from encounters.facade import link_practitioner_to_user
from encounters.models import Appointment, Encounter, Slot
from tests.clinic.factories import TenantFactory
from tests.support.visit import make_clinic, new_patient_id
from tests.web.helpers import member, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic():
    return make_clinic(days=3)


def _tomorrow() -> str:
    return (timezone.localdate() + datetime.timedelta(days=1)).isoformat()


def test_front_desk_books_a_free_slot_and_sees_it_on_the_patients_record(clinic):
    desk = signed_in(member(clinic.tenant, Role.FRONT_DESK))
    patient_id = new_patient_id(clinic.tenant.pk)
    slot = clinic.slots()[0]

    page = desk.get(f"/patients/{patient_id}/book", {"practitioner": clinic.doctor.pk, "date": _tomorrow()})
    assert f'name="slot" value="{slot.pk}"' in page.content.decode()

    booked = desk.post(
        f"/patients/{patient_id}/book",
        {"slot": slot.pk, "practitioner": clinic.doctor.pk, "reason": "Cough", "idempotency_key": "b1"},
    )
    assert booked.headers["Location"] == f"/patients/{patient_id}/?booked=1"
    record = desk.get(booked.headers["Location"]).content.decode()
    assert "Appointment booked." in record and "Dr Who" in record
    again = desk.post(
        f"/patients/{patient_id}/book",
        {"slot": slot.pk, "practitioner": clinic.doctor.pk, "reason": "Cough", "idempotency_key": "b1"},
    )
    assert again.status_code == 302  # a double click books once
    assert Appointment.objects.filter(patient_id=patient_id).count() == 1


def test_the_slots_fragment_answers_alone(clinic):
    desk = signed_in(member(clinic.tenant, Role.FRONT_DESK))
    patient_id = new_patient_id(clinic.tenant.pk)

    fragment = desk.get(
        f"/patients/{patient_id}/book",
        {"practitioner": clinic.nurse.pk, "date": _tomorrow()},
        headers={"HX-Request": "true", "HX-Target": "slots"},
    ).content.decode()

    assert "Free slots with Nurse Joy" in fragment and "<html" not in fragment


def test_a_slot_taken_a_moment_ago_says_so_and_offers_the_next_free_ones(clinic):
    desk = signed_in(member(clinic.tenant, Role.FRONT_DESK))
    first, second = new_patient_id(clinic.tenant.pk, family="First"), new_patient_id(clinic.tenant.pk, family="Second")
    slot = clinic.slots()[0]
    desk.post(f"/patients/{first}/book", {"slot": slot.pk, "idempotency_key": "x1"})

    taken = desk.post(
        f"/patients/{second}/book", {"slot": slot.pk, "practitioner": clinic.doctor.pk, "idempotency_key": "x2"}
    )
    page = taken.content.decode()

    assert taken.status_code == 409
    assert "booked by someone else a moment ago" in page
    assert f'name="slot" value="{clinic.slots()[1].pk}"' in page  # the next free one is offered


def test_cancel_and_reschedule_an_appointment(clinic):
    desk = signed_in(member(clinic.tenant, Role.FRONT_DESK))
    patient_id = new_patient_id(clinic.tenant.pk)
    slots = clinic.slots()
    desk.post(f"/patients/{patient_id}/book", {"slot": slots[0].pk, "idempotency_key": "r1"})
    appointment = Appointment.objects.get(patient_id=patient_id)

    assert "Move the appointment" in desk.get(f"/appointments/{appointment.pk}/reschedule").content.decode()
    moved = desk.post(f"/appointments/{appointment.pk}/reschedule", {"slot": slots[2].pk})
    assert moved.headers["Location"] == f"/patients/{patient_id}/?rescheduled=1"
    current = Appointment.objects.get(patient_id=patient_id, status="booked")
    assert current.slot_id == slots[2].pk

    cancelled = desk.post(f"/appointments/{current.pk}/cancel")
    assert cancelled.headers["Location"] == f"/patients/{patient_id}/?cancelled=1"
    assert not Appointment.objects.filter(patient_id=patient_id, status="booked").exists()


def test_the_day_list_defaults_to_my_patients_today_and_check_in_marks_them_arrived(clinic):
    clinician = member(clinic.tenant, Role.CLINICIAN)
    link_practitioner_to_user(tenant_id=clinic.tenant.pk, practitioner_id=clinic.doctor.pk, user_id=clinician.pk)
    mine, theirs = new_patient_id(clinic.tenant.pk, family="Mine"), new_patient_id(clinic.tenant.pk, family="Theirs")
    now = timezone.now()
    today_slot = Slot.objects.create(
        tenant=clinic.tenant, practitioner=clinic.doctor, site=clinic.site,
        start_at=now + datetime.timedelta(minutes=30), end_at=now + datetime.timedelta(minutes=45),
    )  # fmt: skip
    nurse_slot = Slot.objects.create(
        tenant=clinic.tenant, practitioner=clinic.nurse, site=clinic.site,
        start_at=now + datetime.timedelta(minutes=30), end_at=now + datetime.timedelta(minutes=45),
    )  # fmt: skip
    desk = signed_in(member(clinic.tenant, Role.FRONT_DESK))
    desk.post(f"/patients/{mine}/book", {"slot": today_slot.pk, "idempotency_key": "d1"})
    desk.post(f"/patients/{theirs}/book", {"slot": nurse_slot.pk, "idempotency_key": "d2"})
    doctor_page = signed_in(clinician)

    day = doctor_page.get("/day/").content.decode()
    assert "MINE, Pat" in day and "THEIRS, Pat" not in day
    assert "Dr Who (me)" in day
    everyone = doctor_page.get("/day/", {"practitioner": "all"}).content.decode()
    assert "MINE, Pat" in everyone and "THEIRS, Pat" in everyone

    appointment = Appointment.objects.get(patient_id=mine)
    checked = desk.post(f"/appointments/{appointment.pk}/check-in", {"next": "/day/?practitioner=all"})
    assert checked.headers["Location"] == "/day/?practitioner=all"
    encounter = Encounter.objects.get(appointment=appointment)
    row = doctor_page.get("/day/").content.decode()
    assert "Arrived" in row and re.search(r"\b0 min\b", row)
    assert f'href="/encounters/{encounter.pk}/" data-open' in row  # Enter opens the chart
    desk_row = desk.get("/day/", {"practitioner": "all"}).content.decode()
    assert f'href="/patients/{mine}/" data-open' in desk_row  # front desk opens the patient


def test_the_day_list_rows_answer_alone_for_a_live_refresh(clinic):
    desk = signed_in(member(clinic.tenant, Role.FRONT_DESK))

    fragment = desk.get("/day/", headers={"HX-Request": "true", "HX-Target": "day-rows"}).content.decode()

    assert "No visits" in fragment and "<html" not in fragment


def test_a_walk_in_opens_an_encounter_on_the_day_list(clinic):
    desk = signed_in(member(clinic.tenant, Role.FRONT_DESK))
    patient_id = new_patient_id(clinic.tenant.pk, family="Walker")

    response = desk.post(f"/patients/{patient_id}/walk-in", {"practitioner": str(clinic.nurse.pk)})

    assert response.headers["Location"] == f"/day/?practitioner={clinic.nurse.pk}"
    day = desk.get(response.headers["Location"]).content.decode()
    assert "WALKER, Pat" in day and "Walk-in" in day and "Arrived" in day


def test_another_tenants_appointments_and_patients_are_404s(clinic):
    desk = signed_in(member(clinic.tenant, Role.FRONT_DESK))
    other = make_clinic(days=2)
    theirs = new_patient_id(other.tenant.pk)
    other_desk = signed_in(member(other.tenant, Role.FRONT_DESK))
    other_desk.post(f"/patients/{theirs}/book", {"slot": other.slots()[0].pk, "idempotency_key": "o1"})
    appointment = Appointment.objects.get(patient_id=theirs)

    assert desk.get(f"/patients/{theirs}/book").status_code == 404
    assert desk.post(f"/appointments/{appointment.pk}/cancel").status_code == 404
    assert desk.get(f"/appointments/{appointment.pk}/reschedule").status_code == 404
    assert desk.post(f"/appointments/{appointment.pk}/check-in").status_code == 404
    assert Appointment.objects.get(pk=appointment.pk).status == "booked"
    assert desk.post(f"/patients/{theirs}/walk-in").status_code == 404
    assert not Encounter.objects.filter(patient_id=theirs).exists()


def test_a_tenant_without_a_site_has_an_empty_day_list():
    client = signed_in(member(TenantFactory(), Role.FRONT_DESK))

    assert "has no site yet" in client.get("/day/").content.decode()
