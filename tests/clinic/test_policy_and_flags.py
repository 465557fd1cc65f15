"""Tenant policy (defaults, then the shared template, then the tenant's overrides) and the feature
flags declared by apps, decided by a global switch, then the policy, then their default."""

from __future__ import annotations

import pytest
from waffle.models import Switch

from clinic import flags, policy, services
from clinic.contracts import FlagSource
from clinic.errors import InvalidFlag, InvalidInput, UnknownFlag
from clinic.facade import define_flag, effective_policy, flag_is_active, flag_states, register_policy_section
from clinic.models import PolicyTemplate
from tests.clinic.factories import PolicyTemplateFactory, TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def matching_section():
    register_policy_section("test_matching", defaults={"probable": 0.8, "possible": 0.6})
    yield
    policy._sections.pop("test_matching")


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


# The probe app (tests/probe/flags.py) declares probe.new_timeline (default off) and
# probe.safety_net (default on), as any app declares its flags. These tests name them by string:
# importing tests.probe.flags here would hide whether startup imported it.
NEW_TIMELINE = "probe.new_timeline"
SAFETY_NET = "probe.safety_net"


def test_an_apps_flags_module_is_imported_at_startup_without_other_wiring():
    declared = flags.registered()

    assert declared[NEW_TIMELINE].default is False
    assert declared[SAFETY_NET].default is True
    assert declared[NEW_TIMELINE].owner == "probe"


def test_flag_default_then_template_then_override_then_global_switch():
    template = PolicyTemplateFactory(settings={"flags": {NEW_TIMELINE: True}})
    tenant = TenantFactory()
    assert flag_is_active(NEW_TIMELINE, tenant_id=tenant.pk) is False  # the safe default

    tenant.policy_template = template
    tenant.save()
    assert flag_is_active(NEW_TIMELINE, tenant_id=tenant.pk) is True  # adopted from the template

    services.set_policy_overrides(tenant_id=tenant.pk, overrides={"flags": {NEW_TIMELINE: False}})
    assert flag_is_active(NEW_TIMELINE, tenant_id=tenant.pk) is False  # the tenant's own choice

    Switch.objects.create(name=NEW_TIMELINE, active=True)
    assert flag_is_active(NEW_TIMELINE, tenant_id=tenant.pk) is True  # the operator's global switch


def test_a_global_switch_turns_a_flag_off_for_every_tenant():
    first, second = TenantFactory(), TenantFactory()
    services.set_policy_overrides(tenant_id=second.pk, overrides={"flags": {SAFETY_NET: True}})

    Switch.objects.create(name=SAFETY_NET, active=False)

    assert flag_is_active(SAFETY_NET, tenant_id=first.pk) is False
    assert flag_is_active(SAFETY_NET, tenant_id=second.pk) is False


def test_flag_states_say_what_decided_each_flag():
    tenant = TenantFactory(policy_template=PolicyTemplateFactory(settings={"flags": {NEW_TIMELINE: True}}))

    states = {s.name: (s.active, s.source) for s in flag_states(tenant_id=tenant.pk)}

    assert states[NEW_TIMELINE] == (True, FlagSource.TEMPLATE)
    assert states[SAFETY_NET] == (True, FlagSource.DEFAULT)


def test_effective_policy_lists_every_declared_flag_with_its_value():
    tenant = TenantFactory()
    services.set_policy_overrides(tenant_id=tenant.pk, overrides={"flags": {SAFETY_NET: False}})

    tenant_flags = effective_policy(tenant_id=tenant.pk)["flags"]

    assert tenant_flags[NEW_TIMELINE] is False
    assert tenant_flags[SAFETY_NET] is False


def test_policy_naming_an_undeclared_flag_or_a_non_boolean_value_is_refused():
    tenant = TenantFactory()

    with pytest.raises(InvalidInput) as caught:
        services.set_policy_overrides(tenant_id=tenant.pk, overrides={"flags": {"probe.typo": True, SAFETY_NET: "yes"}})

    fields = {p.field for p in caught.value.problems}
    assert fields == {"policy_overrides.flags.probe.typo", f"policy_overrides.flags.{SAFETY_NET}"}


def test_unknown_flag_is_a_programming_error():
    tenant = TenantFactory()

    with pytest.raises(UnknownFlag, match="unknown flag"):
        flag_is_active("no.such_flag", tenant_id=tenant.pk)
    assert issubclass(UnknownFlag, KeyError)


@pytest.mark.parametrize(
    ("name", "default", "description"),
    [
        ("NoApp", False, "a flag"),  # not <app label>.<name>
        ("probe.flag", "yes", "a flag"),  # not a bool
        ("probe.flag", False, "  "),  # says nothing
        (NEW_TIMELINE, True, "Show the probe's new timeline."),  # declared before with another default
    ],
)
def test_a_malformed_or_conflicting_declaration_is_refused(name, default, description):
    with pytest.raises(InvalidFlag):
        define_flag(name, default=default, description=description)


def test_declaring_the_same_flag_again_is_harmless():
    again = define_flag(NEW_TIMELINE, default=False, description="Show the probe's new timeline.")

    assert again == NEW_TIMELINE
