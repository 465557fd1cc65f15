"""Tenant policy: defaults, then the shared template, then the tenant's overrides."""

from __future__ import annotations

import pytest
from waffle.models import Switch

from clinic import flags, policy, services
from clinic.errors import InvalidInput
from clinic.facade import effective_policy, flag_is_active, register_policy_section
from clinic.models import PolicyTemplate
from tests.clinic.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def matching_section():
    register_policy_section("test_matching", defaults={"probable": 0.8, "possible": 0.6})
    yield
    policy._sections.pop("test_matching")


@pytest.fixture
def a_flag():
    flags.define("test.new_timeline", default=False, description="test flag")
    yield "test.new_timeline"
    flags._flags.pop("test.new_timeline")


def test_effective_policy_layers_defaults_template_and_overrides(matching_section):
    template = PolicyTemplate.objects.create(name="group", settings={"test_matching": {"probable": 0.85}})
    tenant = TenantFactory(policy_template=template)
    services.set_policy_overrides(tenant_id=tenant.pk, overrides={"test_matching": {"possible": 0.5}})

    result = effective_policy(tenant_id=tenant.pk)["test_matching"]

    assert result == {"probable": 0.85, "possible": 0.5}


def test_a_template_change_reaches_every_tenant_that_did_not_override_it(matching_section):
    template = PolicyTemplate.objects.create(name="group", settings={})
    plain, overriding = TenantFactory(policy_template=template), TenantFactory(policy_template=template)
    services.set_policy_overrides(tenant_id=overriding.pk, overrides={"test_matching": {"probable": 0.9}})

    template.settings = {"test_matching": {"probable": 0.7}}
    template.save()

    assert effective_policy(tenant_id=plain.pk)["test_matching"]["probable"] == 0.7
    assert effective_policy(tenant_id=overriding.pk)["test_matching"]["probable"] == 0.9


def test_overrides_with_unknown_sections_or_wrong_types_are_refused(matching_section):
    tenant = TenantFactory()

    with pytest.raises(InvalidInput) as caught:
        services.set_policy_overrides(
            tenant_id=tenant.pk, overrides={"nonsense": {}, "test_matching": {"probable": "high"}}
        )

    fields = {p.field for p in caught.value.problems}
    assert fields == {"policy_overrides.nonsense", "policy_overrides.test_matching.probable"}


def test_flag_default_then_template_then_override_then_global_switch(a_flag):
    template = PolicyTemplate.objects.create(name="group", settings={"flags": {a_flag: True}})
    tenant = TenantFactory()
    assert flag_is_active(a_flag, tenant_id=tenant.pk) is False  # the safe default

    tenant.policy_template = template
    tenant.save()
    assert flag_is_active(a_flag, tenant_id=tenant.pk) is True  # adopted from the template

    services.set_policy_overrides(tenant_id=tenant.pk, overrides={"flags": {a_flag: False}})
    assert flag_is_active(a_flag, tenant_id=tenant.pk) is False  # the tenant's own choice

    Switch.objects.create(name=a_flag, active=True)
    assert flag_is_active(a_flag, tenant_id=tenant.pk) is True  # the operator's global switch


def test_unknown_flag_is_a_programming_error():
    tenant = TenantFactory()

    with pytest.raises(KeyError, match="unknown flag"):
        flag_is_active("no.such.flag", tenant_id=tenant.pk)
