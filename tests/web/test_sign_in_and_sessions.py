"""Signing in, choosing a tenant, roles, the idle session policy, CSRF and the CSP header."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from clinic.contracts import SESSION_TENANT_KEY, Role
from clinic.services import set_policy_overrides
from tests.clinic.factories import MembershipFactory, TenantFactory, UserFactory
from tests.web.helpers import PASSWORD, member, signed_in
from web import session

pytestmark = pytest.mark.django_db


def test_the_root_sends_a_stranger_to_sign_in_and_a_member_to_the_day_list():
    tenant = TenantFactory()

    assert Client().get("/").headers["Location"] == "/login/"
    assert signed_in(member(tenant)).get("/").headers["Location"] == "/day/"


def test_a_page_sends_a_stranger_to_sign_in_and_back_to_it_afterwards():
    tenant = TenantFactory()
    user = member(tenant)
    client = Client()

    response = client.get("/day/?date=2026-01-05")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/?next=%2Fday%2F%3Fdate%3D2026-01-05"

    signed = client.post("/login/", {"username": user.username, "password": PASSWORD, "next": "/day/?date=2026-01-05"})
    assert signed.headers["Location"] == "/day/?date=2026-01-05"
    assert client.get("/day/").status_code == 200


def test_sign_in_refuses_a_wrong_password_and_a_foreign_next():
    tenant = TenantFactory()
    user = member(tenant)
    client = Client()

    wrong = client.post("/login/", {"username": user.username, "password": "nope"})
    assert wrong.status_code == 400
    assert "Please enter a correct username and password" in wrong.content.decode()

    right = client.post("/login/", {"username": user.username, "password": PASSWORD, "next": "https://evil.example/"})
    assert right.headers["Location"] == "/day/"


def test_a_user_of_no_clinic_cannot_sign_in():
    user = UserFactory()

    response = Client().post("/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 400
    assert "not a member of any clinic" in response.content.decode()


def test_a_user_of_several_clinics_chooses_one_and_can_switch():
    first, second = TenantFactory(name="Alpha Clinic"), TenantFactory(name="Beta Clinic")
    user = member(first, Role.CLINICIAN)
    MembershipFactory(tenant=second, user=user, role=Role.FRONT_DESK.value)
    client = Client()

    signed = client.post("/login/", {"username": user.username, "password": PASSWORD, "next": "/patients/"})
    assert signed.headers["Location"] == "/tenant/?next=%2Fpatients%2F"
    assert client.get("/day/").headers["Location"].startswith("/tenant/")  # no page before choosing

    choice = client.get("/tenant/?next=/patients/").content.decode()
    assert "Alpha Clinic" in choice and "Beta Clinic" in choice

    assert client.post("/tenant/", {"tenant": "999999", "next": "/day/"}).status_code == 400
    chosen = client.post("/tenant/", {"tenant": str(second.pk), "next": "/day/"})
    assert chosen.headers["Location"] == "/day/"
    page = client.get("/day/").content.decode()
    assert "Beta Clinic" in page and "Front desk" in page and "Switch clinic" in page

    client.post("/tenant/", {"tenant": str(first.pk), "next": "/day/"})
    assert "Clinician" in client.get("/day/").content.decode()


def test_a_tenant_of_which_the_user_is_no_member_cannot_be_chosen():
    mine, theirs = TenantFactory(), TenantFactory()
    user = member(mine)
    client = signed_in(user)

    response = client.post("/tenant/", {"tenant": str(theirs.pk), "next": "/day/"})

    assert response.status_code == 400
    assert client.session[SESSION_TENANT_KEY] == mine.pk


def test_only_an_admin_gets_the_link_to_django_admin():
    tenant = TenantFactory()
    admin_page = signed_in(member(tenant, Role.ADMIN)).get("/day/").content.decode()
    clinician_page = signed_in(member(tenant, Role.CLINICIAN)).get("/day/").content.decode()
    desk_page = signed_in(member(tenant, Role.FRONT_DESK)).get("/day/").content.decode()

    assert 'href="/admin/"' in admin_page
    assert 'href="/admin/"' not in clinician_page
    assert 'href="/admin/"' not in desk_page


def test_front_desk_has_no_inbox_in_the_menu():
    tenant = TenantFactory()

    assert 'href="/inbox/"' in signed_in(member(tenant, Role.CLINICIAN)).get("/day/").content.decode()
    assert 'href="/inbox/"' not in signed_in(member(tenant, Role.FRONT_DESK)).get("/day/").content.decode()


def test_sign_out_needs_a_post_and_ends_the_session():
    client = signed_in(member(TenantFactory()))

    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").headers["Location"] == "/login/?signed_out=1"
    assert client.get("/day/").status_code == 302


def test_every_form_needs_the_csrf_token():
    tenant = TenantFactory()
    user = member(tenant)
    client = Client(enforce_csrf_checks=True)

    refused = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert refused.status_code == 403

    signed_in(user, client=client, enforce_csrf=True)  # with the token from the form
    assert client.post("/logout/").status_code == 403
    assert client.post("/session/extend").status_code == 403
    assert client.post("/tenant/", {"tenant": str(tenant.pk)}).status_code == 403


def test_an_idle_session_ends_at_the_tenants_timeout_and_returns_to_the_page_afterwards():
    tenant = TenantFactory()
    set_policy_overrides(tenant_id=tenant.pk, overrides={"session": {"idle_timeout_minutes": 0.5}})
    user = member(tenant)
    client = signed_in(user)
    assert client.session[session.IDLE_KEY] == 30

    _age_session(client, seconds=31)
    response = client.get("/day/?date=2026-01-05")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login/?next=%2Fday%2F%3Fdate%3D2026-01-05&expired=1"
    assert "_auth_user_id" not in client.session  # signed out on the server
    assert "did nothing for a while" in client.get(response.headers["Location"]).content.decode()


def test_an_idle_session_answers_htmx_with_a_redirect_of_the_whole_page():
    client = signed_in(member(TenantFactory()))
    _age_session(client, seconds=16 * 60)

    response = client.get(
        "/day/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/patients/?q=smi"}
    )

    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login/?next=%2Fpatients%2F%3Fq%3Dsmi&expired=1"


def test_activity_keeps_a_session_alive_but_a_background_request_does_not():
    client = signed_in(member(TenantFactory()))

    _age_session(client, seconds=10 * 60)
    assert client.get("/day/").status_code == 200  # the user acted: 15 minutes again
    assert client.get("/session/status").json()["remaining_seconds"] >= 15 * 60 - 5

    _age_session(client, seconds=10 * 60)
    status = client.get("/session/status", headers={"X-Clinic-Background": "1"}).json()
    assert 4 * 60 < status["remaining_seconds"] <= 5 * 60
    again = client.get("/session/status", headers={"X-Clinic-Background": "1"}).json()
    assert again["remaining_seconds"] <= status["remaining_seconds"]  # polling did not extend it

    assert client.post("/session/extend").json()["remaining_seconds"] >= 15 * 60 - 5


def test_the_session_policy_section_has_defaults_and_the_page_carries_them():
    from clinic.facade import effective_policy

    tenant = TenantFactory()
    assert effective_policy(tenant_id=tenant.pk)["session"] == {"idle_timeout_minutes": 15.0, "warning_minutes": 2.0}

    page = signed_in(member(tenant)).get("/day/").content.decode()
    assert 'data-idle-seconds="900"' in page and 'data-warning-seconds="120"' in page


def test_pages_carry_a_strict_content_security_policy_with_a_nonce():
    response = signed_in(member(TenantFactory())).get("/day/")
    policy = response.headers["Content-Security-Policy"]

    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "<script>" not in response.content.decode()  # no inline script without a nonce
    assert " style=" not in response.content.decode()  # no inline style attribute


def test_the_vendored_static_files_are_the_pinned_ones():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "scripts/vendor_static.py", "--check"], capture_output=True, text=True)

    assert result.returncode == 0, result.stdout


def test_another_tenants_unknown_page_is_the_web_apps_404():
    response = signed_in(member(TenantFactory())).get("/no-such-page/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def _age_session(client: Client, *, seconds: float) -> None:
    """Pretend the user's last action was ``seconds`` longer ago."""
    store = client.session
    store[session.LAST_ACTIVITY_KEY] = store[session.LAST_ACTIVITY_KEY] - seconds
    store.save()
    assert time.time() - store[session.LAST_ACTIVITY_KEY] >= seconds
