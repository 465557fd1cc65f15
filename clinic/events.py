"""The registries of the event outbox: event types with their payload contracts, and
subscribers.

Producers register the payload contract of each event type they publish
(``clinic.facade.register_event_types`` in their ``AppConfig.ready``); ``publish`` refuses an
unregistered type, and consumers read a payload through its contract (``decode``), so the
kernel carries the contracts of apps it cannot import between apps that may not import each
other (encounters' timeline describes orders', billing's and results' events this way).

Apps register subscribers in their ``handlers.py`` (imported when Django starts, see
``ClinicConfig.ready``) with ``clinic.facade.subscriber``. A subscriber's name is what its
deliveries are recorded under: renaming one makes every old event look undelivered to it, so names
are explicit and stable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clinic import payloads
from clinic.contracts import EVENT_TYPE_PATTERN, Event, EventPayload, TimelineLine
from clinic.errors import DuplicateSubscriber, FieldProblem, InvalidEvent, InvalidEventContract, UnknownEventType

Handler = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class Subscriber:
    name: str
    event_types: frozenset[str]
    handler: Handler


_subscribers: dict[str, Subscriber] = {}


def register(*, name: str, event_types: frozenset[str], handler: Handler) -> None:
    for event_type in event_types:
        if not EVENT_TYPE_PATTERN.match(event_type):
            raise ValueError(f"invalid event type {event_type!r}: use dotted lower_snake words")
    existing = _subscribers.get(name)
    # The same function registering again (a module imported twice) is fine; another is a bug.
    if existing is not None and _origin(existing.handler) != _origin(handler):
        raise DuplicateSubscriber(f"subscriber {name!r} is already registered for another handler")
    _subscribers[name] = Subscriber(name=name, event_types=event_types, handler=handler)


def _origin(handler: Handler) -> tuple[str, str]:
    return handler.__module__, handler.__qualname__


def subscribers() -> list[Subscriber]:
    """Every registered subscriber, by name."""
    return sorted(_subscribers.values(), key=lambda s: s.name)


def unregistered_subscriptions() -> list[str]:
    """Subscriptions to event types no producer registered a contract for (a typo, or a type
    renamed by its producer): checked at startup (``clinic.E001``)."""
    return [
        f"subscriber {s.name!r} subscribes to {event_type!r}, which has no registered payload contract"
        for s in subscribers()
        for event_type in sorted(s.event_types)
        if event_type not in _contracts
    ]


def subscribers_for(event_type: str) -> list[Subscriber]:
    """Subscribers of ``event_type`` in a stable order (by name)."""
    return sorted((s for s in _subscribers.values() if event_type in s.event_types), key=lambda s: s.name)


# --- Event types and their payload contracts ---------------------------------------------------

_contracts: dict[str, type[EventPayload]] = {}


def register_contract(contract: type[EventPayload]) -> None:
    """Register the payload contract of an event type (its producer does, at startup).
    Registering the same class again is harmless. Raises InvalidEventContract for a class that
    is not an EventPayload dataclass (frozen, as its base) with a valid type, a version and a meaning for each
    field, or for a second class of a registered type."""
    if not (isinstance(contract, type) and issubclass(contract, EventPayload) and dataclasses.is_dataclass(contract)):
        raise InvalidEventContract(f"{contract!r} is not an EventPayload dataclass")
    event_type = getattr(contract, "event_type", "")
    if not EVENT_TYPE_PATTERN.match(event_type):
        raise InvalidEventContract(
            f"{contract.__qualname__}: event_type {event_type!r} is not dotted lower_snake words"
        )
    if "__dataclass_params__" not in vars(contract):  # a subclass must be a dataclass itself
        raise InvalidEventContract(f"{contract.__qualname__}: declare it @dataclass(frozen=True, slots=True)")
    if not (isinstance(contract.event_version, int) and contract.event_version >= 1):
        raise InvalidEventContract(f"{contract.__qualname__}: event_version is a whole number from 1")
    try:
        fields = payloads.fields_of(contract)
    except NameError as exc:
        raise InvalidEventContract(f"{contract.__qualname__}: a field's type cannot be resolved ({exc})") from exc
    unexplained = [f.name for f, _hint in fields if not f.metadata.get("meaning")]
    if unexplained:
        raise InvalidEventContract(
            f"{contract.__qualname__}: say what {', '.join(unexplained)} mean(s): field = described('...')"
        )
    existing = _contracts.get(event_type)
    if existing is not None and _where(existing) != _where(contract):
        raise InvalidEventContract(f"event type {event_type!r} already has the contract {existing.__qualname__}")
    _contracts[event_type] = contract


def _where(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__


def contracts() -> dict[str, type[EventPayload]]:
    """Every registered event type and its payload contract, by type."""
    return dict(sorted(_contracts.items()))


def contract_for(event_type: str) -> type[EventPayload]:
    """The payload contract of an event type. Raises UnknownEventType."""
    found = _contracts.get(event_type)
    if found is None:
        raise UnknownEventType(
            f"No payload contract is registered for event type {event_type!r}: its producer registers one "
            "(clinic.facade.register_event_types) in its AppConfig.ready.",
            [FieldProblem("type", "unregistered event type")],
        )
    return found


def encode(payload: EventPayload) -> dict[str, Any]:
    """The JSON object the outbox stores for a payload. Raises UnknownEventType (its type is not
    registered, or registered with another class) and InvalidEvent (a field does not hold what
    the contract declares)."""
    contract = contract_for(type(payload).event_type)
    if type(payload) is not contract:
        raise UnknownEventType(
            f"{type(payload).__qualname__} is not the registered contract of {contract.event_type!r}",
            [FieldProblem("payload", f"use {contract.__qualname__}")],
        )
    return payloads.encode(payload)


def decode(event: Event) -> EventPayload:
    """The typed payload of an event, read with the contract of its type; a payload stored by an
    older version of the contract is upgraded first. Raises UnknownEventType and InvalidEvent
    (the stored payload does not match its contract, or was written by a newer version)."""
    contract = contract_for(event.type)
    data = event.payload
    if event.payload_version > contract.event_version:
        raise InvalidEvent(
            f"Event {event.id} was written by version {event.payload_version} of {event.type!r};"
            f" this code reads up to version {contract.event_version}."
        )
    for version in range(event.payload_version, contract.event_version):
        data = contract.upgrade(data, version)
    return payloads.decode(contract, data)


def describe(event: Event) -> TimelineLine:
    """How the event reads on an encounter timeline, as its producer's contract says (its type,
    with no reference, for an event its producer does not put on timelines)."""
    return decode(event).timeline() or TimelineLine(summary=event.type)
