"""The kernel's stream kit: live updates (server-sent events) served by the stream server, a
process of its own next to the request workers (ADR 7).

An app declares a ``StreamKind`` in its HTTP edge (``<app>/api/``): who may open it and what it
relays (a Redis pub/sub channel whose messages carry consecutive positions, and how to read the
entries after a position from the database). ``config/streams.py`` mounts each kind on a path
ending in ``/stream`` (as ``config/urls.py`` mounts views); the front routes those paths to the
stream server and everything else to the request workers, on one origin.
"""

from clinic.streams.kinds import Entry, Feed, Route, StreamKind, stream

__all__ = ["Entry", "Feed", "Route", "StreamKind", "stream"]
