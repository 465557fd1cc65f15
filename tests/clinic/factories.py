"""Factories of kernel rows (policy templates, tenants, sites, users, memberships, API clients,
outbox events)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from clinic import services
from clinic.contracts import Role
from clinic.models import ApiClient, Membership, OutboxEvent, PolicyTemplate, Site, Tenant


class PolicyTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PolicyTemplate

    name = factory.Sequence(lambda n: f"group-{n}")
    settings = factory.LazyFunction(dict)


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


class ApiClientFactory(factory.django.DjangoModelFactory):
    """A client row whose token nobody knows (use ``api_token`` for one to authenticate with)."""

    class Meta:
        model = ApiClient

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"client-{n}")
    scopes = factory.LazyFunction(lambda: ["api:read"])
    token_prefix = "clk_unknown"
    token_sha256 = factory.Sequence(lambda n: f"{n:064x}")


class OutboxEventFactory(factory.django.DjangoModelFactory):
    """An outbox row as ``publish`` writes it, for reads (admin, API); publishing itself goes
    through ``clinic.outbox.publish``."""

    class Meta:
        model = OutboxEvent

    type = "probe.happened"
    tenant = factory.SubFactory(TenantFactory)
    payload = factory.LazyFunction(dict)
    occurred_at = factory.LazyFunction(timezone.now)
    sweep_after = factory.LazyFunction(timezone.now)


def api_token(tenant: Tenant, *, name: str = "integration", scopes: list[str] | None = None) -> str:
    """Create an API client of ``tenant`` and return its bearer token."""
    _client, token = services.create_api_client(tenant_id=tenant.pk, name=name, scopes=scopes)
    return token
