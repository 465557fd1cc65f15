"""Front desk finds and registers patients in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from clinic.contracts import Role
from identity.models import Patient
from tests.clinic.factories import TenantFactory
from tests.web.browser.conftest import axe_check, sign_in
from tests.web.helpers import PASSWORD, member

pytestmark = pytest.mark.django_db(transaction=True)


def _fill(page, *, family: str, given: str, born: str, nhs: str = "") -> None:
    page.get_by_label("Family name").fill(family)
    page.get_by_label("Given names").fill(given)
    page.get_by_label("Date of birth", exact=True).fill(born)
    page.get_by_label("Female").check()
    page.get_by_label("NHS number (optional)").fill(nhs)


def test_front_desk_registers_a_patient_sees_the_duplicate_warning_and_resolves_it(web, live_server):
    page, _watch = web
    tenant = TenantFactory()
    desk = member(tenant, Role.FRONT_DESK)
    sign_in(page, live_server.url, desk.username, PASSWORD, next_path="/patients/")
    axe_check(page, context="patients, empty")

    # A wrong NHS number is refused at its field.
    _fill(page, family="Smith", given="Ada", born="1980-02-03", nhs="943 476 5918")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_contain_text("not a valid NHS number")
    axe_check(page, context="register, error")

    page.get_by_label("NHS number (optional)").fill("943 476 5919")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r"/patients/[0-9a-f-]+/\?registered=1$"))
    expect(page.get_by_role("region", name="Patient")).to_contain_text("SMITH, Ada")
    axe_check(page, context="patient record")

    # The same person again, without the NHS number: a probable duplicate, shown with why.
    page.goto(f"{live_server.url}/patients/")
    _fill(page, family="Smith", given="Ada", born="1980-02-03")
    page.get_by_role("button", name="Register").click()
    warning = page.get_by_role("region", name="This may be a patient we already have")
    expect(warning).to_contain_text("Same family name, given name, date of birth")
    axe_check(page, context="register, duplicates")
    warning.get_by_role("link", name=re.compile("This is them")).click()
    page.wait_for_url(re.compile(r"/patients/[0-9a-f-]+/$"))
    assert Patient.objects.filter(tenant=tenant).count() == 1

    # A namesake born the same day who is someone else: confirmed as new.
    page.goto(f"{live_server.url}/patients/")
    _fill(page, family="Smith", given="Ada", born="1980-02-03")
    page.get_by_role("button", name="Register").click()
    page.get_by_role("button", name="None of these: register a new patient").click()
    page.wait_for_url(re.compile(r"\?registered=1$"))
    assert Patient.objects.filter(tenant=tenant).count() == 2


def test_search_as_you_type_with_the_keyboard(web, live_server):
    page, _watch = web
    tenant = TenantFactory()
    desk = member(tenant, Role.FRONT_DESK)
    client_page = f"{live_server.url}/patients/"
    sign_in(page, live_server.url, desk.username, PASSWORD, next_path="/patients/")
    _fill(page, family="Lovelace", given="Ada", born="1985-12-10")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r"\?registered=1$"))

    page.goto(client_page)
    page.keyboard.press("/")  # focuses the search box
    page.keyboard.type("love")
    results = page.locator("#patient-results")
    expect(results.get_by_role("link", name="LOVELACE, Ada")).to_be_visible()
    assert "q=love" in page.url  # the search is bookmarkable
    page.keyboard.type("zzz")
    expect(results).to_contain_text("No patient matches")
    axe_check(page, context="search, nothing found")
