"""Tenant policy: named sections with defaults, a shared template, and per-tenant overrides.

The effective policy of a tenant is, section by section, the registered defaults updated by its
template's settings and then by its own overrides (a shallow update of each section's keys).
Apps register the sections they own (identity: identifier systems and matching thresholds; the
kernel: feature flag defaults) through ``clinic.facade.register_policy_section``.
"""

from __future__ import annotations

import copy
from typing import Any

from clinic.contracts import PolicySection
from clinic.errors import FieldProblem

_sections: dict[str, PolicySection] = {}


def register_section(section: PolicySection) -> None:
    _sections[section.name] = section


def sections() -> dict[str, PolicySection]:
    return dict(_sections)


def validate_document(document: Any, *, field: str) -> list[FieldProblem]:
    """Problems with a template's settings or a tenant's overrides (unknown sections, wrong
    shapes). An empty list means the document is acceptable."""
    if not isinstance(document, dict):
        return [FieldProblem(field, "must be a JSON object of policy sections")]
    problems = []
    for name, value in document.items():
        section = _sections.get(name)
        if section is None:
            known = ", ".join(sorted(_sections)) or "none"
            problems.append(FieldProblem(f"{field}.{name}", f"unknown policy section (known: {known})"))
        elif not isinstance(value, dict):
            problems.append(FieldProblem(f"{field}.{name}", "must be a JSON object"))
        else:
            for key, item in value.items():
                if section.closed and key not in section.defaults:
                    known = ", ".join(sorted(section.defaults)) or "none"
                    problems.append(FieldProblem(f"{field}.{name}.{key}", f"unknown key (known: {known})"))
                    continue
                default = section.defaults.get(key)
                if isinstance(default, float) and isinstance(item, int) and not isinstance(item, bool):
                    continue  # JSON has one number type: 1 is as good as 1.0
                if default is not None and not isinstance(item, type(default)):
                    problems.append(FieldProblem(f"{field}.{name}.{key}", f"must be of type {type(default).__name__}"))
    return problems


def effective(template_settings: dict[str, Any] | None, overrides: dict[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {name: copy.deepcopy(section.defaults) for name, section in _sections.items()}
    for layer in (template_settings or {}, overrides or {}):
        for name, value in layer.items():
            if name in result and isinstance(value, dict):
                result[name].update(copy.deepcopy(value))
    return result
