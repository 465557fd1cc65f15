"""Django admin for operators (superusers) and tenant admins."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import transaction

from clinic.contracts import Role
from clinic.facade import publish
from clinic.models import ApiClient, OutboxEvent
from clinic.services import hash_token
from tests.clinic.factories import MembershipFactory, SiteFactory, TenantFactory, UserFactory
from tests.probe.contracts import ProbeHappened

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/",
    "/admin/clinic/tenant/",
    "/admin/clinic/site/",
    "/admin/clinic/site/add/",
    "/admin/clinic/membership/",
    "/admin/clinic/apiclient/",
    "/admin/clinic/apiclient/add/",
    "/admin/clinic/outboxevent/",
    "/admin/clinic/outboxevent/?delivery=undelivered",
    "/admin/clinic/eventdelivery/",
]


@pytest.fixture
def tenant_admin(client):
    membership = MembershipFactory(role=Role.ADMIN.value, user=UserFactory(is_staff=True))
    client.force_login(membership.user)
    return membership


@pytest.mark.parametrize("page", PAGES)
def test_tenant_admin_pages_render(client, tenant_admin, page):
    assert client.get(page).status_code == 200


@pytest.mark.parametrize("page", [*PAGES, "/admin/clinic/policytemplate/", "/admin/clinic/tenant/add/"])
def test_operator_pages_render(client, page):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert client.get(page).status_code == 200


def test_tenant_admin_cannot_reach_platform_wide_models(client, tenant_admin):
    assert client.get("/admin/clinic/policytemplate/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403
    assert client.get("/admin/clinic/tenant/add/").status_code == 403


def test_creating_an_api_client_in_admin_shows_its_token_once(client, tenant_admin):
    response = client.post(
        "/admin/clinic/apiclient/add/", {"name": "acme-lab", "scopes": "api:read system/*.read", "is_active": "on"}
    )

    assert response.status_code == 302
    created = ApiClient.objects.get(name="acme-lab")
    assert (created.tenant_id, created.scopes) == (tenant_admin.tenant_id, ["api:read", "system/*.read"])
    shown = [m.message for m in get_messages(response.wsgi_request)]
    token = next(m for m in shown if m.startswith("Token for acme-lab")).rsplit(" ", 1)[-1]
    assert created.token_sha256 == hash_token(token)


def test_unknown_scope_in_admin_is_a_form_error(client, tenant_admin):
    response = client.post("/admin/clinic/apiclient/add/", {"name": "x", "scopes": "api:read root"})

    assert response.status_code == 200
    assert "Unknown scopes: root" in response.content.decode()
    assert not ApiClient.objects.exists()


def test_event_search_by_encounter_id_and_undelivered_filter(client, tenant_admin):
    import uuid

    encounter = uuid.uuid4()
    with transaction.atomic():
        wanted = publish(payload=ProbeHappened(), tenant_id=tenant_admin.tenant_id, encounter_id=encounter)
        publish(payload=ProbeHappened(), tenant_id=tenant_admin.tenant_id)
    other_tenant = TenantFactory()
    with transaction.atomic():
        publish(payload=ProbeHappened(), tenant_id=other_tenant.pk, encounter_id=encounter)

    response = client.get(f"/admin/clinic/outboxevent/?q={encounter}&delivery=undelivered")

    assert list(response.context["cl"].result_list) == [OutboxEvent.objects.get(pk=wanted.id)]


def test_policy_overrides_with_an_unknown_section_are_refused_in_admin(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    tenant = TenantFactory()
    SiteFactory(tenant=tenant)

    response = client.post(
        f"/admin/clinic/tenant/{tenant.pk}/change/",
        {"slug": tenant.slug, "name": tenant.name, "policy_overrides": '{"nonsense": {}}', "is_active": "on"},
    )

    assert response.status_code == 200
    assert "policy_overrides.nonsense: unknown policy section" in response.content.decode()


def test_view_on_site_shortcut_is_not_served(client, tenant_admin):
    from django.contrib.contenttypes.models import ContentType

    from clinic.models import Site

    site = SiteFactory(tenant=TenantFactory())
    content_type = ContentType.objects.get_for_model(Site)

    assert client.get(f"/admin/r/{content_type.pk}/{site.pk}/").status_code == 404
    assert client.get(f"/admin/r/{content_type.pk}/999999/").status_code == 404


def test_tenant_admin_cannot_change_the_policy_template(client, tenant_admin):
    from clinic.models import PolicyTemplate

    PolicyTemplate.objects.create(name="other-group")

    page = client.get(f"/admin/clinic/tenant/{tenant_admin.tenant_id}/change/").content.decode()

    assert 'name="policy_template"' not in page


def test_duplicate_site_code_in_admin_is_a_form_error_not_a_500(client, tenant_admin):
    SiteFactory(tenant=tenant_admin.tenant, code="north")

    response = client.post(
        "/admin/clinic/site/add/", {"code": "north", "name": "North again", "timezone": "Europe/London"}
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_unknown_time_zone_in_admin_is_a_form_error(client, tenant_admin):
    response = client.post("/admin/clinic/site/add/", {"code": "mars", "name": "Mars", "timezone": "Mars/Olympus"})

    assert response.status_code == 200
    assert "Unknown time zone" in response.content.decode()


def test_operator_creating_a_tenant_in_admin_sets_it_up_like_the_command(client):
    from clinic.models import OutboxEvent, Tenant

    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(
        "/admin/clinic/tenant/add/",
        {"slug": "northgate", "name": "Northgate", "policy_overrides": "{}", "is_active": "on"},
    )

    assert response.status_code == 302
    tenant = Tenant.objects.get(slug="northgate")
    assert OutboxEvent.objects.filter(type="tenant.created", tenant=tenant).count() == 1


def test_rotating_tokens_in_admin_shows_each_new_token_once_and_the_old_one_stops(client, tenant_admin):
    from tests.clinic.factories import api_token

    old_token = api_token(tenant_admin.tenant, name="acme-lab")
    theirs = api_token(TenantFactory(), name="other-lab")
    mine = ApiClient.objects.get(name="acme-lab")
    other = ApiClient.objects.get(name="other-lab")

    response = client.post(
        "/admin/clinic/apiclient/", {"action": "rotate_token", "_selected_action": [str(mine.pk), str(other.pk)]}
    )

    assert response.status_code == 302
    shown = [m.message for m in get_messages(response.wsgi_request)]
    assert len(shown) == 1  # another tenant's client is not theirs to rotate
    new_token = shown[0].rsplit(" ", 1)[-1]
    mine.refresh_from_db()
    assert mine.token_sha256 == hash_token(new_token) != hash_token(old_token)
    assert ApiClient.objects.get(pk=other.pk).token_sha256 == hash_token(theirs)


def test_tenant_page_shows_every_declared_flag_with_its_value_and_what_decided_it(client, tenant_admin):
    from waffle.models import Switch

    from clinic import services

    services.set_policy_overrides(tenant_id=tenant_admin.tenant_id, overrides={"flags": {"probe.new_timeline": True}})
    Switch.objects.create(name="probe.safety_net", active=False)

    page = client.get(f"/admin/clinic/tenant/{tenant_admin.tenant_id}/change/").content.decode()

    assert (
        "<tr><td><code>probe.new_timeline</code></td><td>on</td><td>tenant override</td><td>off</td>"
        "<td>Show the probe&#x27;s new timeline.</td></tr>"
    ) in page
    assert "<tr><td><code>probe.safety_net</code></td><td>off</td><td>global switch</td><td>on</td>" in page


def test_tenant_list_shows_the_flags_on_for_each_tenant(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    TenantFactory(slug="plain")

    page = client.get("/admin/clinic/tenant/").content.decode()

    assert '<td class="field-flags_on">probe.safety_net</td>' in page


def test_admin_index_names_the_kernels_models_in_proper_plurals(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get("/admin/").content.decode()

    assert "Event deliveries" in page
    assert "deliverys" not in page
