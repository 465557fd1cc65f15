"""Factories of kernel rows (tenants, sites, users, memberships, API clients)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from clinic import services
from clinic.contracts import Role
from clinic.models import Membership, Site, Tenant


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.Sequence(lambda n: f"Clinic {n}")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    tenant = factory.SubFactory(TenantFactory)
    code = factory.Sequence(lambda n: f"site-{n}")
    name = factory.Sequence(lambda n: f"Site {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user-{n}")
    password = factory.django.Password("pw-secret-123")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Role.CLINICIAN.value


def api_token(tenant: Tenant, *, name: str = "integration", scopes: list[str] | None = None) -> str:
    """Create an API client of ``tenant`` and return its bearer token."""
    _client, token = services.create_api_client(tenant_id=tenant.pk, name=name, scopes=scopes)
    return token
