"""Bearer tokens and sessions: who may call the API, and for which tenant."""

from __future__ import annotations

import pytest

from clinic.models import ApiClient
from clinic.services import hash_token
from tests.clinic.factories import MembershipFactory, TenantFactory, UserFactory, api_token

pytestmark = pytest.mark.django_db


def test_request_without_token_is_401_with_a_bearer_challenge(api):
    response = api.get("/api/me")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"].startswith("Authentication required")


@pytest.mark.parametrize(
    "header",
    ["Bearer clk_not-a-real-token", "Bearer ", "Bearer two words", "bearer clk_wrong"],
)
def test_bad_or_malformed_token_is_401(api, header):
    TenantFactory()

    response = api.get("/api/me", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_token_authenticates_as_its_client_and_tenant(api):
    tenant = TenantFactory(slug="riverside", name="Riverside Clinic")
    token = api_token(tenant, name="acme-lab", scopes=["api:read"])

    response = api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    body = response.json()
    assert body["tenant"] == {"id": tenant.pk, "slug": "riverside", "name": "Riverside Clinic"}
    assert (body["kind"], body["name"], body["scopes"]) == ("client", "acme-lab", ["api:read"])
    assert ApiClient.objects.get(name="acme-lab").last_used_at is not None


def test_token_is_stored_only_as_its_hash():
    tenant = TenantFactory()
    token = api_token(tenant)

    client = ApiClient.objects.get(tenant=tenant)
    assert client.token_sha256 == hash_token(token)
    assert token not in {str(v) for v in client.__dict__.values()}


def test_deactivated_client_or_tenant_is_401(api):
    tenant = TenantFactory()
    token = api_token(tenant)
    ApiClient.objects.filter(tenant=tenant).update(is_active=False)
    assert api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401

    other = TenantFactory(is_active=False)
    assert api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {api_token(other)}").status_code == 401


def test_missing_scope_is_403_naming_the_scope(api):
    tenant = TenantFactory()
    token = api_token(tenant, scopes=["api:read"])

    response = api.post(
        "/api/sites", {"code": "north", "name": "North"}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "This operation requires the scope 'tenant:admin'."


def test_tenant_comes_from_the_token_never_from_a_parameter(api):
    mine, theirs = TenantFactory(), TenantFactory()
    token = api_token(mine)

    response = api.get(f"/api/me?tenant={theirs.slug}&tenant_id={theirs.pk}", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.json()["tenant"]["id"] == mine.pk


def test_session_user_acts_for_their_tenant_with_their_role(api):
    membership = MembershipFactory(role="front_desk")
    api.force_login(membership.user)

    body = api.get("/api/me").json()

    assert (body["kind"], body["role"], body["tenant"]["id"]) == ("user", "front_desk", membership.tenant_id)


def test_user_without_membership_is_403(api):
    api.force_login(UserFactory())

    response = api.get("/api/me")

    assert response.status_code == 403
    assert "not a member" in response.json()["detail"]


def test_user_in_several_tenants_must_choose_one(api):
    membership = MembershipFactory()
    MembershipFactory(user=membership.user)
    api.force_login(membership.user)

    response = api.get("/api/me")

    assert response.status_code == 403
    assert "several tenants" in response.json()["detail"]
