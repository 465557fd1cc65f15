"""Turning column values (or their JSON snapshots, as strings) into FHIR primitive values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


def instant(value: Any) -> str | None:
    """A FHIR ``instant``/``dateTime`` with a time zone (UTC), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        text: str = value.astimezone(UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    raise TypeError(f"not a datetime: {value!r}")


def fhir_date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value[:10]
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not a date: {value!r}")


def decimal(value: Any) -> float | int | None:
    """A FHIR ``decimal`` as a JSON number (13.40000000 from the column is 13.4)."""
    if value is None or value == "":
        return None
    number = Decimal(value) if isinstance(value, str) else value
    normal = number.normalize()
    if normal == normal.to_integral_value():
        return int(normal)
    return float(normal)


def compact(data: dict[str, Any]) -> dict[str, Any]:
    """The dict without empty values (FHIR forbids empty strings, arrays and objects)."""
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


def coding(c: dict[str, Any] | None) -> dict[str, Any] | None:
    if not c or not c.get("code"):
        return None
    return compact({"system": c.get("system"), "code": c.get("code"), "display": c.get("display")})


def concept(coded: dict[str, Any] | None, text: str = "") -> dict[str, Any]:
    """A CodeableConcept from our ``coded`` JSON: the LOINC (or other) translation first, then
    the code as it was received (both kept: http://hl7.org/fhir/R4/datatypes.html#codesystem)."""
    coded = coded or {}
    codings: list[dict[str, Any]] = []
    for c in (coding(coded.get("translated")), coding(coded.get("original"))):
        if c and all((c.get("system"), c["code"]) != (k.get("system"), k["code"]) for k in codings):
            codings.append(c)  # a LOINC received as LOINC is its own translation: once

    display = text or next((c["display"] for c in codings if c.get("display")), "")
    return compact({"coding": codings, "text": display})
