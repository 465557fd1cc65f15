"""Signing in, the layout and the session warning and expiry, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from clinic.contracts import Role
from clinic.services import set_policy_overrides
from tests.clinic.factories import MembershipFactory, TenantFactory
from tests.web.browser.conftest import axe_check, sign_in
from tests.web.helpers import PASSWORD, member

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_with_the_keyboard_shows_errors_then_the_day_list(web, live_server):
    page, _watch = web
    user = member(TenantFactory(name="Riverside Clinic"), username="ada")

    page.goto(f"{live_server.url}/")
    assert page.url.endswith("/login/")
    axe_check(page, context="sign-in, empty")

    page.keyboard.type("ada")
    page.keyboard.press("Tab")
    page.keyboard.type("wrong")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_be_visible()
    axe_check(page, context="sign-in, error")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(re.compile(r"/day/$"))
    expect(page.get_by_role("link", name="Riverside Clinic")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Inbox")).to_be_visible()
    axe_check(page, context="day list")
    assert user.username in page.get_by_role("banner").inner_text()


def test_a_user_of_two_clinics_chooses_one(web, live_server):
    page, _watch = web
    first, second = TenantFactory(name="Alpha Clinic"), TenantFactory(name="Beta Clinic")
    user = member(first, Role.CLINICIAN)
    MembershipFactory(tenant=second, user=user, role=Role.FRONT_DESK.value)

    sign_in(page, live_server.url, user.username, PASSWORD)
    assert "/tenant/" in page.url
    page.get_by_role("button", name="Continue").click()  # nothing chosen: an error at the field
    expect(page.get_by_text("Choose the clinic you are working in.")).to_be_visible()
    axe_check(page, context="tenant choice, error")

    page.get_by_label("Beta Clinic").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/day/$"))
    assert "Front desk" in page.get_by_role("banner").inner_text()
    assert page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Inbox").count() == 0


def test_an_idle_session_warns_then_blanks_the_page_and_signing_in_returns_to_it(web, live_server):
    page, _watch = web
    tenant = TenantFactory()
    # 12 seconds idle, the warning 6 seconds before (the shortest the policy allows is 10 s).
    set_policy_overrides(
        tenant_id=tenant.pk, overrides={"session": {"idle_timeout_minutes": 0.2, "warning_minutes": 0.1}}
    )
    user = member(tenant)
    sign_in(page, live_server.url, user.username, PASSWORD, next_path="/day/")

    warning = page.get_by_role("alertdialog", name="You will be signed out soon")
    warning.wait_for(state="visible", timeout=15_000)
    axe_check(page, context="session warning")
    page.get_by_role("button", name="Stay signed in").click()
    warning.wait_for(state="hidden")

    # Hold the way to the sign-in page (the request is left unanswered), to see what the page
    # left behind at expiry.
    held = []
    page.route(re.compile(r".*/login/\?expired=1.*"), lambda route: held.append(route))
    # The content is gone from the DOM, not just hidden; only a note is left.
    page.wait_for_function(
        "() => document.querySelector('main, header, table') === null"
        " && document.body.innerText.startsWith('You have been signed out')",
        timeout=20_000,
    )
    for _ in range(50):  # the route handler runs when Playwright next reads its events
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1  # and the page is on its way to the sign-in page: let it go
    held[0].continue_()
    page.wait_for_url(re.compile(r"/login/\?expired=1&next=%2Fday%2F$"))
    expect(page.get_by_role("status")).to_contain_text("You were signed out")
    axe_check(page, context="sign-in after expiry")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/day/$"))
