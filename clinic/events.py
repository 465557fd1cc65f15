"""The subscriber registry of the event outbox.

Apps register subscribers in their ``handlers.py`` (imported when Django starts, see
``ClinicConfig.ready``) with ``clinic.facade.subscriber``. A subscriber's name is what its
deliveries are recorded under: renaming one makes every old event look undelivered to it, so names
are explicit and stable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clinic.contracts import EVENT_TYPE_PATTERN, Event
from clinic.errors import DuplicateSubscriber

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


def subscribers_for(event_type: str) -> list[Subscriber]:
    """Subscribers of ``event_type`` in a stable order (by name)."""
    return sorted((s for s in _subscribers.values() if event_type in s.event_types), key=lambda s: s.name)
