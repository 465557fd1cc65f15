"""The Redis side of the stream server: one pub/sub connection per process, shared by all of its
clients.

A channel is subscribed when its first listener joins and unsubscribed when its last one leaves;
a message is decoded once and handed to every listener of its channel. When the connection is
lost every listener is told (its stream ends; the client reconnects with ``Last-Event-ID`` and
reads what it missed from the database), and the next join connects again. Nothing is retried
silently: a resubscription would hide the messages published in between.

It speaks to Redis through redis-py's connection (parser, authentication, database from the URL)
rather than its ``PubSub`` helper, whose automatic reconnection does exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Protocol

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection

logger = logging.getLogger("clinic.streams")

SUBSCRIBE_TIMEOUT_SECONDS = 5.0


class HubUnavailable(Exception):
    """Redis could not be reached, or the subscription was not confirmed in time."""


class Message:
    """One published entry: its position and its JSON text, with its SSE frame built once per
    event name for all the listeners of the channel."""

    __slots__ = ("_frames", "seq", "text")

    def __init__(self, seq: int, text: str) -> None:
        self.seq = seq
        self.text = text
        self._frames: dict[str, bytes] = {}

    def frame(self, event: str) -> bytes:
        found = self._frames.get(event)
        if found is None:
            found = self._frames[event] = sse_frame(self.seq, event, self.text)
        return found


def sse_frame(seq: int, event: str, text: str) -> bytes:
    # The entry's JSON is one line (json.dumps without indent), as SSE's data field needs.
    return f"id: {seq}\nevent: {event}\ndata: {text}\n\n".encode()


class Listener(Protocol):
    def deliver(self, message: Message) -> None:
        """Take a message; must not block (the hub's reader calls it for every listener)."""

    def lost(self) -> None:
        """The hub lost Redis: no further message will come."""


class Hub:
    def __init__(self, url: str) -> None:
        self._pool = ConnectionPool.from_url(url, socket_connect_timeout=2, socket_keepalive=True)
        self._connection: AbstractConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one connect, SUBSCRIBE or UNSUBSCRIBE at a time
        self._listeners: dict[str, set[Listener]] = {}
        self._ready: dict[str, asyncio.Future[None]] = {}  # the subscription a new listener waits for
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = {}  # per channel, in command order
        self.subscribed: set[str] = set()  # confirmed channels (for tests and metrics)

    @property
    def listeners(self) -> int:
        return sum(len(found) for found in self._listeners.values())

    async def join(self, channel: str, listener: Listener) -> None:
        """Add a listener; return once Redis has confirmed the channel's subscription, so that
        anything published afterwards reaches it. Raises HubUnavailable."""
        async with self._lock:
            connection = await self._connect()
            found = self._listeners.setdefault(channel, set())
            found.add(listener)
            if len(found) == 1:
                ready = asyncio.get_running_loop().create_future()
                self._ready[channel] = ready
                self._confirmations.setdefault(channel, deque()).append(ready)
                try:
                    await connection.send_command("SUBSCRIBE", channel, check_health=False)
                except Exception as exc:
                    await self._lose(f"SUBSCRIBE failed: {type(exc).__name__}")
                    raise HubUnavailable(str(exc)) from exc
            ready = self._ready[channel]
        try:
            await asyncio.wait_for(asyncio.shield(ready), SUBSCRIBE_TIMEOUT_SECONDS)
        except (TimeoutError, HubUnavailable, ConnectionError) as exc:
            await self.leave(channel, listener)
            raise HubUnavailable(f"subscription to {channel} not confirmed: {exc!r}") from exc

    async def leave(self, channel: str, listener: Listener) -> None:
        async with self._lock:
            found = self._listeners.get(channel)
            if found is None or listener not in found:
                return
            found.discard(listener)
            if found:
                return
            del self._listeners[channel]
            self._ready.pop(channel, None)
            if self._connection is not None:
                try:
                    await self._connection.send_command("UNSUBSCRIBE", channel, check_health=False)
                except Exception as exc:
                    await self._lose(f"UNSUBSCRIBE failed: {type(exc).__name__}")

    async def close(self) -> None:
        async with self._lock:
            await self._lose("closing")
        await self._pool.disconnect()

    async def _connect(self) -> AbstractConnection:
        if self._connection is not None:
            return self._connection
        connection: AbstractConnection = self._pool.make_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.connect()  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise HubUnavailable(f"Redis does not answer: {type(exc).__name__}") from exc
        self._connection = connection
        self._reader = asyncio.create_task(self._read(connection), name="stream-hub-reader")
        return connection

    async def _read(self, connection: AbstractConnection) -> None:
        try:
            while True:
                response = await connection.read_response(disconnect_on_error=False)
                self._dispatch(response)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self._connection is connection:
                logger.warning("streams.redis_lost error=%s", type(exc).__name__)
                async with self._lock:
                    if self._connection is connection:
                        await self._lose(type(exc).__name__)

    def _dispatch(self, response: object) -> None:
        if not isinstance(response, list) or len(response) < 3:
            return
        kind, raw_channel, data = response[0], response[1], response[2]
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        if kind == b"message":
            listeners = self._listeners.get(channel)
            if not listeners:
                return  # published while we were leaving
            try:
                text = data.decode() if isinstance(data, bytes) else str(data)
                message = Message(int(json.loads(text)["seq"]), text)
            except (ValueError, KeyError, TypeError):
                logger.warning("streams.bad_message channel=%s", channel)
                return
            for listener in list(listeners):
                listener.deliver(message)
        elif kind == b"subscribe":
            self.subscribed.add(channel)
            waiting = self._confirmations.get(channel)
            if waiting:
                ready = waiting.popleft()
                if not waiting:
                    del self._confirmations[channel]
                if not ready.done():
                    ready.set_result(None)
        elif kind == b"unsubscribe" and channel not in self._listeners:
            self.subscribed.discard(channel)

    async def _lose(self, reason: str) -> None:
        """Forget the connection and everything that depended on it (the lock is held)."""
        connection, self._connection = self._connection, None
        reader, self._reader = self._reader, None
        listeners = [listener for found in self._listeners.values() for listener in found]
        waiting = [ready for found in self._confirmations.values() for ready in found]
        self._listeners.clear()
        self._ready.clear()
        self._confirmations.clear()
        self.subscribed.clear()
        for ready in waiting:
            if not ready.done():
                ready.set_exception(HubUnavailable(reason))
                ready.exception()  # retrieved: no "never retrieved" warning when nobody waits
        for listener in listeners:
            listener.lost()
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
