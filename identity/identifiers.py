"""Identifier values: how each system's values are written and checked."""

from __future__ import annotations

import re

from stdnum.gb import nhs

from identity.models import IdentifierSystem

MAX_VALUE_LENGTH = 100


def normalise_identifier_value(system: IdentifierSystem, value: str) -> tuple[str, str | None]:
    """The value as stored, and why it is invalid (None when it is valid).

    NHS numbers are stored without spaces ('943 476 5919' → '9434765919') and must pass the
    modulus 11 check digit; other systems are checked against their pattern.
    """
    value = value.strip()
    if not value:
        return value, "must not be blank"
    if len(value) > MAX_VALUE_LENGTH:
        return value, f"must be at most {MAX_VALUE_LENGTH} characters"
    if system.validator == IdentifierSystem.Validator.NHS_NUMBER:
        compact = nhs.compact(value)
        if not nhs.is_valid(compact):
            return compact, "is not a valid NHS number (10 digits with a modulus 11 check digit)"
        return compact, None
    if (
        system.validator == IdentifierSystem.Validator.PATTERN
        and system.pattern
        and not re.fullmatch(system.pattern, value)
    ):
        return value, f"does not match the format of {system.name} ({system.pattern})"
    return value, None
