"""Another tenant's object answers exactly like an object that does not exist: in the API and in
Django admin."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from clinic.contracts import Role
from clinic.facade import publish
from clinic.models import ApiClient, OutboxEvent, Site
from tests.clinic.factories import MembershipFactory, SiteFactory, TenantFactory, UserFactory, api_token
from tests.probe.contracts import ProbeHappened

pytestmark = pytest.mark.django_db


def _event(tenant) -> OutboxEvent:
    with transaction.atomic():
        event = publish(payload=ProbeHappened(), tenant_id=tenant.pk)
    return OutboxEvent.objects.get(pk=event.id)


def _comparable(response) -> tuple[int, dict[str, object]]:
    body = response.json()
    body.pop("instance", None)  # the path differs by construction
    return response.status_code, body


def test_other_tenants_site_is_indistinguishable_from_a_missing_one(api):
    mine, theirs = TenantFactory(), TenantFactory()
    their_site = SiteFactory(tenant=theirs)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(mine)}")

    foreign = api.get(f"/api/sites/{their_site.pk}")
    missing = api.get("/api/sites/999999")

    assert foreign.status_code == 404
    assert _comparable(foreign) == _comparable(missing)


def test_other_tenants_event_is_indistinguishable_from_a_missing_one(api):
    mine, theirs = TenantFactory(), TenantFactory()
    their_event = _event(theirs)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(mine)}")

    foreign = api.get(f"/api/events/{their_event.pk}")
    missing = api.get(f"/api/events/{uuid.uuid4()}")

    assert foreign.status_code == 404
    assert _comparable(foreign) == _comparable(missing)


def test_lists_show_only_the_callers_tenant(api):
    mine, theirs = TenantFactory(), TenantFactory()
    SiteFactory(tenant=mine, code="mine")
    SiteFactory(tenant=theirs, code="theirs")
    my_event, _their_event = _event(mine), _event(theirs)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(mine)}")

    sites = api.get("/api/sites").json()["results"]
    events = api.get("/api/events").json()["results"]

    assert [s["code"] for s in sites] == ["mine"]
    assert [e["id"] for e in events] == [str(my_event.pk)]


@pytest.fixture
def tenant_admin(client):
    membership = MembershipFactory(role=Role.ADMIN.value, user=UserFactory(is_staff=True))
    client.force_login(membership.user)
    return membership


@pytest.mark.parametrize(
    ("model_path", "make"),
    [
        ("clinic/site", lambda tenant: SiteFactory(tenant=tenant).pk),
        ("clinic/outboxevent", lambda tenant: _event(tenant).pk),
        ("clinic/apiclient", lambda tenant: (api_token(tenant), ApiClient.objects.get(tenant=tenant).pk)[1]),
        ("clinic/tenant", lambda tenant: tenant.pk),
    ],
)
def test_admin_answers_404_for_another_tenants_object_as_for_a_missing_one(client, tenant_admin, model_path, make):
    theirs = TenantFactory()
    foreign_id = make(theirs)
    missing_id = uuid.uuid4() if isinstance(foreign_id, uuid.UUID) else 999999

    foreign = client.get(f"/admin/{model_path}/{foreign_id}/change/")
    missing = client.get(f"/admin/{model_path}/{missing_id}/change/")

    assert foreign.status_code == missing.status_code == 404


def test_admin_can_open_own_tenants_objects_and_lists_only_them(client, tenant_admin):
    own = SiteFactory(tenant=tenant_admin.tenant, name="Our site")
    SiteFactory(tenant=TenantFactory(), name="Their site")

    listing = client.get("/admin/clinic/site/")
    detail = client.get(f"/admin/clinic/site/{own.pk}/change/")

    assert listing.status_code == 200 and detail.status_code == 200
    assert b"Our site" in listing.content
    assert b"Their site" not in listing.content


def test_admin_creates_rows_in_the_admins_own_tenant(client, tenant_admin):
    response = client.post(
        "/admin/clinic/site/add/",
        {"code": "east", "name": "East", "timezone": "Europe/London", "address": "", "is_active": "on"},
    )

    assert response.status_code == 302, response.content[:500]
    assert Site.objects.get(code="east").tenant_id == tenant_admin.tenant_id


def test_staff_without_admin_role_sees_no_tenant_data(client):
    membership = MembershipFactory(role=Role.CLINICIAN.value, user=UserFactory(is_staff=True))
    site = SiteFactory(tenant=membership.tenant)
    client.force_login(membership.user)

    assert client.get("/admin/clinic/site/").status_code == 403
    assert client.get(f"/admin/clinic/site/{site.pk}/change/").status_code == 404
