"""What a stream is: a kind (who may open it, the channel it relays, how to read what a client
missed) and the path that serves it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.urls.resolvers import RoutePattern

from clinic.contracts import Principal

# (position, JSON text) of one committed entry of a channel.
Entry = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Feed:
    """What an authorised client is given.

    ``channel`` is the Redis pub/sub channel whose messages the stream relays: each message a
    JSON object with an integer ``seq``, the entry's position in the channel, given in commit
    order, one more than the entry before it. ``backlog(after)`` reads, from the database, the
    committed entries after a position, in order (the stream calls it in a thread, with a
    pooled connection it gives back at once).
    """

    channel: str
    backlog: Callable[[int], list[Entry]]


@dataclass(frozen=True, slots=True)
class StreamKind:
    """A kind of stream, declared by the app whose entries it carries.

    ``open(principal, params)`` is the authorisation check: it runs in a thread (database reads
    allowed), takes the path parameters (converted, e.g. a UUID) and returns the client's
    ``Feed``; it raises the app's NotFound error for anything the principal may not see (the
    answer is a 404, as for a missing one). ``scope`` is the scope the principal must hold
    (clients by their scopes, staff users by their role), checked first. ``event`` names the SSE
    events of the stream.
    """

    name: str
    event: str
    scope: str
    open: Callable[[Principal, dict[str, Any]], Feed]


@dataclass(frozen=True, slots=True)
class Route:
    """A path of the stream server. Paths end in ``/stream``: that is how the front (HAProxy,
    ``deploy/haproxy.cfg``) tells a stream from a request for the web workers."""

    route: str
    kind: StreamKind
    pattern: RoutePattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.route.endswith("/stream") or self.route.startswith("/"):
            raise ValueError(f"a stream path has no leading slash and ends in /stream, not {self.route!r}")
        object.__setattr__(self, "pattern", RoutePattern(self.route, is_endpoint=True))

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted parameters when ``path`` (with its leading slash) is this route."""
        found = self.pattern.match(path.removeprefix("/"))
        if found is None:
            return None
        remaining, _args, kwargs = found
        return kwargs if remaining == "" else None


def stream(route: str, kind: StreamKind | str) -> Route:
    """A route of the stream server (``config/streams.py``), like ``django.urls.path``: ``route``
    uses Django's path syntax (``api/encounters/<uuid:encounter_id>/stream``); ``kind`` is a
    StreamKind or its dotted import path (as ``include()`` takes a module's)."""
    if isinstance(kind, str):
        from django.utils.module_loading import import_string

        kind = import_string(kind)
    assert isinstance(kind, StreamKind), kind
    return Route(route, kind)
