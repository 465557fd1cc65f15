"""The event catalogue (docs/events.md), generated from the registries of ``clinic.events``: every
event type the product's apps publish, its producer, version, payload fields, how it reads on a
timeline, and its subscribers.

``python manage.py event_catalogue --output docs/events.md`` writes it; a test fails when the file
differs from what this module renders, so it cannot go stale. Only the product's apps are listed
(the test app and the benchmarks register event types of their own).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from clinic import events, payloads
from clinic.contracts import EventPayload

HEADER = """\
# Event catalogue

<!-- Generated from the event registry by `python manage.py event_catalogue --output docs/events.md`;
tests/clinic/test_event_catalogue.py fails when this file differs. Edit the contracts, not this file. -->

Every event the platform publishes, written to the transactional outbox in the transaction of the
change it describes and delivered after commit to each subscriber once (ADR 0001). Each event type
has a typed, versioned payload: a frozen dataclass in its producer's `contracts.py`, registered
with the kernel at startup, which `publish` takes and consumers read back (ADR 0011 says how to
add an event type or a version). The JSON stored in the outbox has one key per field; a UUID,
time (ISO 8601) or amount is text there.

"On a timeline" is how the event reads on an encounter's timeline, as its producer states it
(`{field}` stands for the payload's value; an empty one may give way to another, as the
contract's `timeline` says); the encounters app decides which timelines an event goes on.
"""


def product_apps(app_names: list[str]) -> set[str]:
    """The product's apps among installed app names: top-level packages (not ``tests.probe``
    or Django's own ``django.contrib.*``)."""
    return {name for name in app_names if "." not in name}


def render(*, apps: set[str]) -> str:
    """The catalogue of the event types whose producer is one of ``apps``."""
    contracts = {t: c for t, c in events.contracts().items() if _producer(c) in apps}
    lines = [HEADER, "| type | producer | version | subscribers |", "|---|---|---|---|"]
    for event_type, contract in contracts.items():
        consumers = ", ".join(f"`{s.name}`" for s in _subscribers(event_type, apps)) or "none yet"
        link = f"[`{event_type}`](#{_anchor(event_type)})"
        lines.append(f"| {link} | {_producer(contract)} | {contract.event_version} | {consumers} |")
    for event_type, contract in contracts.items():
        lines += ["", *_section(event_type, contract, apps)]
    return "\n".join(lines) + "\n"


def _section(event_type: str, contract: type[EventPayload], apps: set[str]) -> list[str]:
    out = [
        f"## {event_type}",
        "",
        f"Producer **{_producer(contract)}**, payload `{contract.__module__}.{contract.__qualname__}`, "
        f"version {contract.event_version}.",
        "",
        _doc(contract),
        "",
        "| field | type | meaning |",
        "|---|---|---|",
    ]
    nested: dict[str, type] = {}
    for field, hint in payloads.fields_of(contract):
        out.append(f"| `{field.name}` | {_type(hint, nested)} | {field.metadata.get('meaning', '')} |")
    for name, cls in nested.items():
        parts = ", ".join(f"`{f.name}` ({_type(h, nested)})" for f, h in payloads.fields_of(cls))
        out += ["", f"`{name}`: {parts}."]
    out += ["", f"On a timeline: {_timeline(contract)}", ""]
    subscribers = _subscribers(event_type, apps)
    if subscribers:
        out.append("Subscribers:")
        out.append("")
        out += [
            f"- `{s.name}` (`{s.handler.__module__}.{s.handler.__qualname__}`): {_doc(s.handler)}" for s in subscribers
        ]
    else:
        out.append("Subscribers: none yet.")
    return out


def _producer(contract: type) -> str:
    return contract.__module__.split(".", 1)[0]


def _subscribers(event_type: str, apps: set[str]) -> list[events.Subscriber]:
    return [s for s in events.subscribers_for(event_type) if s.handler.__module__.split(".", 1)[0] in apps]


def _anchor(event_type: str) -> str:
    return event_type.replace(".", "")


def _doc(thing: object) -> str:
    """The docstring, as one paragraph."""
    return " ".join((inspect.getdoc(thing) or "").split())


def _type(hint: Any, nested: dict[str, type]) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [o for o in typing.get_args(hint) if o is not type(None)]
        return f"{_type(inner, nested)} or null"
    if origin is tuple:
        return f"list of {_type(typing.get_args(hint)[0], nested)}"
    if origin is dict:
        return "object"
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        nested[hint.__name__] = hint
        return f"`{hint.__name__}`"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return " \\| ".join(f"`{member.value}`" for member in hint)
    names = {UUID: "UUID", datetime: "date-time", date: "date", Decimal: "decimal", str: "text", int: "integer"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


class _Symbol:
    """Stands for a payload field when the timeline reading is rendered: ``{name}``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __str__(self) -> str:
        return "{" + self._name + "}"

    def __format__(self, spec: str) -> str:
        return str(self)

    def __getattr__(self, attribute: str) -> _Symbol:
        return self  # a method of the value (``start_at.isoformat``) reads as the value

    def __call__(self, *args: object, **kwargs: object) -> _Symbol:
        return self


def _timeline(contract: type[EventPayload]) -> str:
    symbolic = object.__new__(contract)
    for field in dataclasses.fields(contract):
        object.__setattr__(symbolic, field.name, _Symbol(field.name))
    line = symbolic.timeline()
    if line is None:
        return "not shown."
    return f'"{line.summary}", reference `{line.reference}`.'
