"""The one registry of feature flags.

Each app declares the flags it owns in its own ``flags.py`` through
``clinic.facade.define_flag``, with a safe default. A flag is on for a tenant when, in order of
precedence: a global waffle Switch of the same name exists (an operator's kill switch or
force-on, set in Django admin); else the tenant's effective policy sets it (template, then
override, section ``flags``); else its default.

The kernel owns no flag yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from clinic.contracts import PolicySection


@dataclass(frozen=True, slots=True)
class FlagSpec:
    name: str
    default: bool
    description: str


_flags: dict[str, FlagSpec] = {}

FLAGS_POLICY_SECTION = "flags"


def define(name: str, *, default: bool, description: str) -> FlagSpec:
    spec = FlagSpec(name=name, default=default, description=description)
    _flags[name] = spec
    return spec


def registered() -> dict[str, FlagSpec]:
    return dict(_flags)


def policy_section() -> PolicySection:
    return PolicySection(
        name=FLAGS_POLICY_SECTION,
        defaults={},  # flag defaults come from the registry, at evaluation time
        description="Feature flag defaults for the tenant: {flag name: true/false}.",
    )
