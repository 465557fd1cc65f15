"""Front desk books and checks in; the clinician finds the patient on their day list by keyboard."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinic.contracts import Role
from encounters.facade import link_practitioner_to_user
from encounters.models import Slot
from tests.support.visit import make_clinic, new_patient_id
from tests.web.browser.conftest import axe_check, sign_in
from tests.web.helpers import PASSWORD, member

pytestmark = pytest.mark.django_db(transaction=True)


def test_front_desk_books_and_checks_in_and_the_clinician_opens_the_patient_by_keyboard(web, live_server, browser):
    page, _watch = web
    clinic = make_clinic(days=2)
    desk = member(clinic.tenant, Role.FRONT_DESK)
    clinician = member(clinic.tenant, Role.CLINICIAN)
    link_practitioner_to_user(tenant_id=clinic.tenant.pk, practitioner_id=clinic.doctor.pk, user_id=clinician.pk)
    patient_id = new_patient_id(clinic.tenant.pk, family="Keys")
    now = timezone.now()
    Slot.objects.create(
        tenant=clinic.tenant, practitioner=clinic.doctor, site=clinic.site,
        start_at=now + datetime.timedelta(minutes=20), end_at=now + datetime.timedelta(minutes=35),
    )  # fmt: skip
    today = timezone.localtime(now, timezone=datetime.UTC).date().isoformat()

    sign_in(page, live_server.url, desk.username, PASSWORD, next_path=f"/patients/{patient_id}/book")
    expect(page.get_by_role("heading", name="Book an appointment")).to_be_visible()
    page.get_by_label("Day").fill(today)
    page.get_by_label("Day").dispatch_event("change")
    slots = page.get_by_role("list", name="Free slots")
    expect(slots.get_by_role("button")).to_have_count(1)
    axe_check(page, context="booking")
    page.get_by_label("Reason (optional)").fill("Follow-up")
    slots.get_by_role("button").first.click()
    page.wait_for_url(re.compile(r"\?booked=1$"))
    expect(page.get_by_role("status")).to_contain_text("Appointment booked.")
    axe_check(page, context="patient with an appointment")

    page.goto(f"{live_server.url}/day/?practitioner=all")
    axe_check(page, context="day list, booked")
    page.get_by_role("button", name="Check in KEYS, Pat").click()
    expect(page.get_by_role("row", name=re.compile("KEYS, Pat, Arrived"))).to_be_visible()

    doctor = browser.new_page()
    try:
        sign_in(doctor, live_server.url, clinician.username, PASSWORD)
        expect(doctor.get_by_text("Dr Who (me)")).to_be_attached()
        doctor.keyboard.press("Tab")  # the keyboard alone: focus a row, then Enter
        doctor.locator("[data-row]").first.focus()
        doctor.keyboard.press("ArrowDown")
        doctor.keyboard.press("Enter")
        doctor.wait_for_url(re.compile(r"/encounters/[0-9a-f-]+/$"))
    finally:
        doctor.close()
