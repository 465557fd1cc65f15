"""The one registry of feature flags.

Each app declares the flags it owns in its own ``flags.py`` (imported at startup by
``ClinicConfig.ready``, so declaring a flag needs no other wiring), with a safe default::

    # prescribing/flags.py
    from clinic.facade import define_flag

    INTERACTION_CHECKS = define_flag(
        "prescribing.interaction_checks", default=False, description="Check drug-drug interactions."
    )

and reads it for a tenant with ``clinic.facade.flag_is_active(INTERACTION_CHECKS, tenant_id=...)``.

A flag is on for a tenant when, in order of precedence: a global waffle Switch of the same name
exists (an operator's kill switch or force-on, set in Django admin: Waffle > Switches), its value;
else the tenant's policy sets it (its own overrides, then its policy template; section
``flags``), that value; else the flag's default. Django admin shows every declared flag with its
effective value and source on each tenant's page.

The kernel owns no flag yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clinic import policy
from clinic.contracts import FLAG_NAME_PATTERN, FlagSource, FlagState, PolicySection
from clinic.errors import InvalidFlag, UnknownFlag

FLAGS_POLICY_SECTION = "flags"


@dataclass(frozen=True, slots=True)
class FlagSpec:
    name: str
    default: bool
    description: str

    @property
    def owner(self) -> str:
        """The app label of the app that declares the flag (the name's first part)."""
        return self.name.split(".", 1)[0]


_flags: dict[str, FlagSpec] = {}


def define(name: str, *, default: bool, description: str) -> FlagSpec:
    """Declare a flag. Declaring the same flag again (a module imported twice) is harmless.

    Raises InvalidFlag for a name that is not ``<app label>.<lower_snake>``, a default that is
    not a bool, a blank description, or a second declaration that differs from the first.
    """
    if not FLAG_NAME_PATTERN.match(name):
        raise InvalidFlag(f"flag name {name!r}: use '<app label>.<lower_snake name>'")
    if not isinstance(default, bool):
        raise InvalidFlag(f"flag {name!r}: the default must be True or False")
    if not description.strip():
        raise InvalidFlag(f"flag {name!r}: say what it turns on in its description")
    spec = FlagSpec(name=name, default=default, description=description.strip())
    existing = _flags.get(name)
    if existing is not None and existing != spec:
        raise InvalidFlag(f"flag {name!r} is already declared differently: {existing}")
    _flags[name] = spec
    # Tenant policy knows the declared flags: their defaults, and which names it may set.
    policy.register_section(policy_section())
    return spec


def registered() -> dict[str, FlagSpec]:
    return dict(_flags)


def spec(name: str) -> FlagSpec:
    """The declared flag. Raises UnknownFlag."""
    found = _flags.get(name)
    if found is None:
        raise UnknownFlag(f"unknown flag {name!r}: declare it in the owning app's flags.py")
    return found


def policy_section() -> PolicySection:
    return PolicySection(
        name=FLAGS_POLICY_SECTION,
        defaults={name: flag.default for name, flag in sorted(_flags.items())},
        description="Feature flags for the tenant: {declared flag name: true/false}.",
        closed=True,
    )


def evaluate(
    *, switches: dict[str, bool], template: dict[str, Any], overrides: dict[str, Any], only: str | None = None
) -> list[FlagState]:
    """The state of every declared flag (or ``only`` that one), by name, from the global switches
    and the ``flags`` sections of a tenant's policy template and overrides."""
    states = []
    for name, flag in sorted(_flags.items()):
        if only is not None and name != only:
            continue
        if name in switches:
            active, source = switches[name], FlagSource.SWITCH
        elif name in overrides:
            active, source = bool(overrides[name]), FlagSource.OVERRIDE
        elif name in template:
            active, source = bool(template[name]), FlagSource.TEMPLATE
        else:
            active, source = flag.default, FlagSource.DEFAULT
        states.append(
            FlagState(name=name, description=flag.description, default=flag.default, active=active, source=source)
        )
    return states
