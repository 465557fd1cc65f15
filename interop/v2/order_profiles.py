"""Outbound order profiles: what each lab wants in the order messages we send it, as data (ADR
0010). A profile is a JSON file in ``interop/v2/profiles/`` (reviewed like code, one per message
shape a lab takes); a lab partner names its profile (``LabPartner.outbound_profile``).

A profile says:

- ``message_type`` (``ORM^O01``, or ``OML^O21`` as in the HL7 v2.5.1 Laboratory Orders
  Interface guide) and ``version``; ``msh21``: the message profile identifiers it declares;
- ``sources``: which fields the partner wants filled and from what (``SOURCES``): PID-3's
  identifiers in order, OBR-4's codings in order, the ordering provider, the specimen...; a
  value starting with ``=`` is literal ER7;
- ``required``: fields (``SEG-n`` or ``SEG-n.c``) every message must have non-empty;
- ``rules``: the partner's own constraints on values (``equals``, ``in``, ``pattern``), each
  with the reason (``why``). ``{clinic}`` in a value is the clinic's code (our MSH-4).

``order_messages`` builds a message from a profile and checks it against the HL7 structures
(hl7apy) and against ``check``: a message that breaks its profile is never sent, and the
contract tests (``tests/interop/test_order_profiles.py``) build every profile's messages for a
range of orders, so a profile change the builder cannot satisfy fails there, naming the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from interop.v2 import er7

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = "orm-o01-v2.5"
MESSAGE_TYPES = {"ORM^O01": "ORM_O01", "OML^O21": "OML_O21"}
VERSIONS = {"2.5", "2.5.1"}

# Where a field's value can come from, and which fields each may fill.
SOURCES: dict[str, tuple[str, ...]] = {
    "mrn": ("PID-3",),  # the clinic's MRN, authority = the clinic's code, type MR
    "nhs-number": ("PID-3",),  # the NHS number, authority NHS, type NH
    "loinc": ("OBR-4",),  # the order's LOINC (the catalogue's translation)
    "local": ("OBR-4",),  # our catalogue code, coding system L
    "visit-number": ("PV1-19",),
    "ordering-provider": ("ORC-12", "OBR-16"),  # the practitioner of the order's encounter
    "priority": ("OBR-5", "TQ1-9"),
    "specimen-note": ("OBR-13",),
}
REPEATED = {"PID-3", "OBR-4"}  # fields whose sources are a list (repetitions / codings in order)
_PATH = re.compile(r"^(?P<segment>[A-Z][A-Z0-9]{2})(?:-(?P<field>\d+)(?:\.(?P<component>\d+))?)?$")


class ProfileInvalid(ValueError):
    """A profile file that is not a profile (unknown source, bad path, unsupported type)."""


class ProfileUnsatisfied(ValueError):
    """A built message breaks its profile; ``field`` names where (``ORC-12``, ``PID-3.4``)."""

    def __init__(self, profile: str, field: str, text: str) -> None:
        super().__init__(f"Profile {profile}: {field} {text}")
        self.profile = profile
        self.field = field


@dataclass(frozen=True)
class Rule:
    field: str
    equals: str | None = None
    one_of: tuple[str, ...] = ()
    pattern: str | None = None
    why: str = ""


@dataclass(frozen=True)
class OrderProfile:
    name: str
    description: str
    message_type: str
    version: str
    sources: dict[str, Any]
    required: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    msh21: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)

    @property
    def structure(self) -> str:
        """MSH-9.3, and hl7apy's name of the message structure."""
        return MESSAGE_TYPES[self.message_type]

    def source(self, target: str) -> Any:
        return self.sources.get(target)


def _path(text: str, where: str) -> str:
    if not _PATH.match(text):
        raise ProfileInvalid(f"{where}: {text!r} is not a field (SEG-n or SEG-n.c)")
    return text


def parse_profile(data: dict[str, Any], *, path: Path | None = None) -> OrderProfile:
    """A profile from its JSON. Raises ProfileInvalid naming what is wrong."""
    where = str(path.name if path else data.get("name", "profile"))
    try:
        message_type, version = data["message_type"], data["version"]
        sources = dict(data["sources"])
    except (KeyError, TypeError) as exc:
        raise ProfileInvalid(f"{where}: missing {exc}") from exc
    if message_type not in MESSAGE_TYPES:
        raise ProfileInvalid(f"{where}: message_type {message_type!r} is not one of {', '.join(MESSAGE_TYPES)}")
    if version not in VERSIONS:
        raise ProfileInvalid(f"{where}: version {version!r} is not one of {', '.join(sorted(VERSIONS))}")
    for target, source in sources.items():
        _path(target, where)
        given = source if isinstance(source, list) else [source]
        if (target in REPEATED) != isinstance(source, list):
            raise ProfileInvalid(
                f"{where}: {target} takes {'a list of sources' if target in REPEATED else 'one source'}"
            )
        for one in given:
            if isinstance(one, str) and one.startswith("="):
                continue
            if one not in SOURCES:
                raise ProfileInvalid(f"{where}: {target} source {one!r} is unknown (known: {', '.join(SOURCES)})")
            if target not in SOURCES[one]:
                raise ProfileInvalid(f"{where}: {one!r} cannot fill {target} (it fills {', '.join(SOURCES[one])})")
    if message_type == "ORM^O01" and any(t.startswith("SPM") for t in sources):
        raise ProfileInvalid(f"{where}: ORM^O01 has no SPM segment (a specimen segment needs OML^O21)")
    rules = []
    for raw in data.get("rules", []):
        one_of = tuple(raw.get("in", ()))
        if not any(k in raw for k in ("equals", "in", "pattern")):
            raise ProfileInvalid(f"{where}: the rule on {raw.get('field')!r} says nothing (equals, in or pattern)")
        rules.append(
            Rule(
                field=_path(raw["field"], where),
                equals=raw.get("equals"),
                one_of=one_of,
                pattern=raw.get("pattern"),
                why=raw.get("why", ""),
            )
        )
    return OrderProfile(
        name=data.get("name") or where,
        description=data.get("description", ""),
        message_type=message_type,
        version=version,
        sources=sources,
        required=tuple(_path(p, where) for p in data.get("required", [])),
        rules=tuple(rules),
        msh21=tuple(data.get("msh21", [])),
        path=path,
    )


@cache
def profiles() -> dict[str, OrderProfile]:
    """Every profile of ``PROFILE_DIR``, by name (the file's stem must be its name)."""
    found = {}
    for path in sorted(PROFILE_DIR.glob("*.json")):
        profile = parse_profile(json.loads(path.read_text(encoding="utf-8")), path=path)
        if profile.name != path.stem:
            raise ProfileInvalid(f"{path.name}: its name is {profile.name!r}; name the file after it")
        found[profile.name] = profile
    return found


def get_profile(name: str) -> OrderProfile:
    """Raises KeyError naming the profiles there are."""
    try:
        return profiles()[name]
    except KeyError:
        raise KeyError(f"no outbound profile {name!r} (there are: {', '.join(profiles())})") from None


# --- Checking a built message ---------------------------------------------------------------------


def _values(message: er7.Message, path: str) -> list[str]:
    """Every value at ``path`` in the message: one per occurrence of the segment and repetition
    of the field (a component of each when ``SEG-n.c``); a bare ``SEG`` is its presence."""
    match = _PATH.match(path)
    assert match is not None
    segment, n, c = match["segment"], match["field"], match["component"]
    found = message.all(segment)
    if n is None:
        return ["present" for _ in found]
    values = []
    for seg in found:
        repetitions = seg.repetitions(int(n)) or [""]
        for rep, raw in enumerate(repetitions):
            values.append(seg.component(int(n), int(c), rep) if c else seg.unescape(raw))
    return values


def check(profile: OrderProfile, text: str, *, clinic: str) -> None:
    """Raise ProfileUnsatisfied for the first field of ``text`` (ER7) that breaks ``profile``:
    a required one empty (or its segment absent), or a value against one of its rules."""
    message = er7.parse(text.replace("\n", "\r").strip("\r"))
    for path in profile.required:
        values = _values(message, path)
        if not any(v.strip() for v in values):
            raise ProfileUnsatisfied(profile.name, path, "is required by the profile and is empty")
    for rule in profile.rules:
        allowed = tuple(v.replace("{clinic}", clinic) for v in rule.one_of)
        equals = rule.equals.replace("{clinic}", clinic) if rule.equals is not None else None
        for value in _values(message, rule.field):
            if not value:
                continue  # absence is what ``required`` says
            if equals is not None and value != equals:
                raise ProfileUnsatisfied(profile.name, rule.field, f"is {value!r}, not {equals!r} ({rule.why})")
            if allowed and value not in allowed:
                raise ProfileUnsatisfied(
                    profile.name, rule.field, f"is {value!r}, not one of {', '.join(allowed)} ({rule.why})"
                )
            if rule.pattern and not re.search(rule.pattern, value):
                raise ProfileUnsatisfied(
                    profile.name, rule.field, f"is {value!r}, which does not match {rule.pattern} ({rule.why})"
                )
