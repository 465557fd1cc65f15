"""Tenancy use cases: a tenant is created with its policy in one step; an operator's token
rotation over several clients is all or nothing."""

from __future__ import annotations

import uuid

import pytest

from clinic import services
from clinic.errors import InvalidInput, NotFound
from clinic.models import ApiClient, OutboxEvent, Tenant
from tests.clinic.factories import ApiClientFactory, TenantFactory

pytestmark = pytest.mark.django_db


def test_a_tenant_is_created_with_its_overrides_and_state_in_one_step():
    tenant = services.create_tenant(slug="northgate", name="Northgate", policy_overrides={"flags": {}}, is_active=False)

    stored = Tenant.objects.get(pk=tenant.pk)
    assert (stored.policy_overrides, stored.is_active) == ({"flags": {}}, False)
    assert OutboxEvent.objects.filter(type="tenant.created", tenant=tenant).count() == 1


def test_a_tenant_with_unknown_policy_sections_is_not_created():
    with pytest.raises(InvalidInput) as caught:
        services.create_tenant(slug="northgate", name="Northgate", policy_overrides={"nonsense": {}})

    assert [p.field for p in caught.value.problems] == ["policy_overrides.nonsense"]
    assert not Tenant.objects.filter(slug="northgate").exists()


def test_rotating_several_tokens_rotates_none_when_one_client_is_missing():
    client = ApiClientFactory(tenant=TenantFactory())
    before = client.token_sha256

    with pytest.raises(NotFound):
        services.rotate_api_client_tokens(client_ids=[client.pk, uuid.uuid4()])

    assert ApiClient.objects.get(pk=client.pk).token_sha256 == before


def test_the_demo_tenant_is_set_up_once_and_its_token_rotates():
    first_tenant, first_token = services.set_up_demo_tenant(slug="show", password="pw-12345678")
    again_tenant, again_token = services.set_up_demo_tenant(slug="show", password="pw-12345678")

    assert first_tenant.pk == again_tenant.pk
    assert first_token != again_token
    assert ApiClient.objects.get(tenant=first_tenant).token_sha256 == services.hash_token(again_token)
