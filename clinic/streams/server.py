"""The stream server: a small ASGI application (run by uvicorn) that serves only live streams
(server-sent events), so that a stream holds neither a request worker nor a database connection
while it waits.

- **Opening** a stream: its credentials are resolved (``clinic.streams.auth``) and its kind's
  ``open`` checks that the principal may see the channel; then the hub subscribes the channel
  (one Redis pub/sub connection for the whole process) and the backlog after ``Last-Event-ID``
  (header, or ``?last_event_id=``) is read. Database work runs in a small thread pool whose
  threads check a connection out of the process's pool for each job and give it back at once:
  however many streams are open, the process holds at most that many connections, and none
  while it waits.
- **Relaying**: each message of the channel is sent as an SSE event whose ``id`` is the entry's
  position. A message that skips positions (pushes overtaking each other) first has the missed
  entries read from the database; a comment is sent every ``CLINIC_STREAM_HEARTBEAT_SECONDS``.
- **Ending**: when the client goes away; when its credentials no longer resolve to the same
  principal, or it may no longer see the channel (checked for all streams every
  ``CLINIC_STREAM_RECHECK_SECONDS``, once per distinct credentials; the stream gets a
  ``revoked`` event and ends); after ``CLINIC_STREAM_MAX_SECONDS`` (the client reconnects with
  ``Last-Event-ID``); when the hub loses Redis (likewise); or when a client reads too slowly to
  keep up (likewise).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qs

from django.conf import settings
from django.db import connections

from clinic.contracts import NotFound, Principal
from clinic.streams.auth import Credentials, Refused, resolve
from clinic.streams.hub import Hub, HubUnavailable, Message, sse_frame
from clinic.streams.kinds import Feed, Route, StreamKind

logger = logging.getLogger("clinic.streams")

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
T = TypeVar("T")

QUEUE_LIMIT = 1000  # messages a client may fall behind before its stream is ended
CLOSED = object()  # queued to wake a stream that must end


def _run_closing(fn: Callable[[], T]) -> T:
    """Run a database job in a pool thread, then give its connection back (to the process's
    pool, ``CLINIC_DB_POOL_MAX``; closed when there is none)."""
    try:
        return fn()
    finally:
        connections.close_all()


@dataclass(eq=False)
class Stream:
    """One open stream: its client, what it relays, and the queue the hub fills."""

    route: Route
    params: dict[str, Any]
    credentials: Credentials
    principal: Principal
    feed: Feed
    queue: asyncio.Queue[Message | object] = field(default_factory=asyncio.Queue)
    ended: str = ""  # why the server ends it ("" while it runs)
    revoked: bool = False

    @property
    def kind(self) -> StreamKind:
        return self.route.kind

    def deliver(self, message: Message) -> None:
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.end("too slow")
            return
        self.queue.put_nowait(message)

    def lost(self) -> None:
        self.end("redis lost")

    def end(self, reason: str, *, revoked: bool = False) -> None:
        if not self.ended:
            self.ended = reason
            self.revoked = revoked
            self.queue.put_nowait(CLOSED)


class StreamServer:
    """The ASGI application of the stream server (``config/streams.py`` builds it)."""

    def __init__(self, routes: Iterable[Route], *, redis_url: str, db_threads: int) -> None:
        self.routes = list(routes)
        self.redis_url = redis_url
        self.db_threads = db_threads
        self.streams: set[Stream] = set()
        self._hub: Hub | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._warden: asyncio.Task[None] | None = None

    # --- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self._start()
        path = scope["path"]
        for route in self.routes:
            params = route.match(path)
            if params is not None:
                break
        else:
            await _problem(send, 404, f"No stream at {path}.", code="no-such-endpoint", instance=path)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _problem(send, 405, "Streams are read with GET.", instance=path, headers=[(b"allow", b"GET")])
            return
        await self._serve(scope, receive, send, route, params)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start(self) -> None:
        if self._hub is not None:
            return
        self._hub = Hub(self.redis_url)
        self._executor = ThreadPoolExecutor(self.db_threads, thread_name_prefix="stream-db")
        self._warden = asyncio.create_task(self._watch(), name="stream-warden")

    async def shutdown(self) -> None:
        for stream in list(self.streams):
            stream.end("server stopping")
        if self._warden is not None:
            self._warden.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warden
        if self._hub is not None:
            await self._hub.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._hub = self._executor = self._warden = None

    async def _db(self, fn: Callable[[], T]) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, _run_closing, fn)

    # --- One stream ---------------------------------------------------------------------------

    async def _serve(self, scope: Scope, receive: Receive, send: Send, route: Route, params: dict[str, Any]) -> None:
        path = scope["path"]
        headers = dict(scope.get("headers") or [])
        credentials = Credentials.from_headers(headers)
        raw = headers.get(b"last-event-id", b"").decode("latin-1") or _query(scope, "last_event_id") or "0"
        try:
            after = int(raw)
        except ValueError:
            await _problem(send, 400, f"Last-Event-ID must be a timeline position, not {raw!r}.", instance=path)
            return
        try:
            principal, feed = await self._db(lambda: _open(route.kind, credentials, params))
        except Refused as refused:
            challenge = [(b"www-authenticate", b'Bearer realm="api"')] if refused.status == 401 else []
            await _problem(send, refused.status, refused.detail, instance=path, headers=challenge)
            return
        except NotFound as exc:
            await _problem(send, 404, str(exc) or "Not found.", code=getattr(exc, "code", None), instance=path)
            return
        except Exception:
            incident = str(uuid.uuid4())
            logger.exception("streams.open_failed incident=%s", incident)
            await _problem(
                send, 500, f"Unexpected error. Quote incident {incident} to support.", instance=path,
                extra={"incident": incident},
            )  # fmt: skip
            return
        stream = Stream(route=route, params=params, credentials=credentials, principal=principal, feed=feed)
        assert self._hub is not None
        try:
            await self._hub.join(feed.channel, stream)
        except HubUnavailable:
            await _problem(
                send, 503, "Live updates are unavailable; try again shortly.", instance=path,
                headers=[(b"retry-after", b"5")],
            )  # fmt: skip
            return
        self.streams.add(stream)
        try:
            await self._relay(stream, scope, receive, send, after)
        finally:
            self.streams.discard(stream)
            await self._hub.leave(feed.channel, stream)

    async def _relay(self, stream: Stream, scope: Scope, receive: Receive, send: Send, after: int) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            stream.end("client gone")

        watcher = asyncio.create_task(watch_disconnect())
        try:
            await self._send(send, b": connected\n\n")
            last = after
            for seq, text in await self._db(partial(stream.feed.backlog, after)):
                last = seq
                await self._send(send, sse_frame(seq, stream.kind.event, text))
            lifetime = settings.CLINIC_STREAM_MAX_SECONDS * random.uniform(0.9, 1.0)  # noqa: S311
            ends_at = time.monotonic() + lifetime
            heartbeat = settings.CLINIC_STREAM_HEARTBEAT_SECONDS
            while not stream.ended:
                wait = min(heartbeat, ends_at - time.monotonic())
                if wait <= 0:
                    stream.end("lifetime")
                    break
                try:
                    async with asyncio.timeout(wait):
                        item = await stream.queue.get()
                except TimeoutError:
                    await self._send(send, b": keep-alive\n\n")
                    continue
                if not isinstance(item, Message) or item.seq <= last:
                    continue
                if item.seq > last + 1:
                    # Pushes can overtake each other (several workers): the entries in between
                    # are committed already (positions are given in commit order): read them.
                    for seq, text in await self._db(partial(stream.feed.backlog, last)):
                        if seq < item.seq:
                            last = seq
                            await self._send(send, sse_frame(seq, stream.kind.event, text))
                last = item.seq
                await self._send(send, item.frame(stream.kind.event))
            if stream.revoked:
                reason = json.dumps({"reason": stream.ended})
                await self._send(send, f"event: revoked\ndata: {reason}\n\n".encode())
            elif stream.ended == "lifetime":
                await self._send(send, b": lifetime over; reconnect with Last-Event-ID\n\n")
        except HubUnavailable:
            pass  # the client reconnects and reads what it missed
        finally:
            watcher.cancel()
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _send(send: Send, body: bytes) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": True})

    # --- Re-checking credentials ----------------------------------------------------------------

    async def _watch(self) -> None:
        """Every CLINIC_STREAM_RECHECK_SECONDS, resolve each distinct credentials of the open
        streams again; end the streams whose principal is gone or changed and may no longer see
        their channel."""
        while True:
            await asyncio.sleep(settings.CLINIC_STREAM_RECHECK_SECONDS)
            try:
                await self.recheck()
            except Exception:
                logger.exception("streams.recheck_failed")

    async def recheck(self) -> None:
        by_credentials: dict[str, list[Stream]] = {}
        for stream in self.streams:
            if not stream.ended:
                by_credentials.setdefault(stream.credentials.key, []).append(stream)
        for streams in by_credentials.values():
            credentials = streams[0].credentials
            try:
                principal: Principal | None = await self._db(lambda c=credentials: resolve(c))  # type: ignore[misc]
            except Refused:
                principal = None
            except Exception as exc:  # the database is away: keep the streams, check again next time
                logger.warning("streams.recheck_unavailable error=%s", type(exc).__name__)
                continue
            for stream in streams:
                if principal is None:
                    stream.end("credentials no longer valid", revoked=True)
                elif principal != stream.principal:
                    try:
                        await self._db(lambda s=stream, p=principal: _open(s.kind, None, s.params, p))  # type: ignore[misc]
                    except (Refused, NotFound):
                        stream.end("no longer permitted", revoked=True)
                    else:
                        stream.principal = principal


def _open(
    kind: StreamKind, credentials: Credentials | None, params: dict[str, Any], principal: Principal | None = None
) -> tuple[Principal, Feed]:
    """Resolve the principal (unless given), check its scope and let the kind authorise it.
    Raises Refused or the kind's NotFound."""
    if principal is None:
        assert credentials is not None
        principal = resolve(credentials)
    if not principal.has_scope(kind.scope):
        raise Refused(403, f"This operation requires the scope {kind.scope!r}.")
    return principal, kind.open(principal, params)


def _query(scope: Scope, name: str) -> str:
    raw = scope.get("query_string") or b""
    values = parse_qs(raw.decode("latin-1")).get(name)
    return values[0] if values else ""


async def _problem(
    send: Send,
    status: int,
    detail: str,
    *,
    code: str | None = None,
    instance: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    from clinic.api.problems import PROBLEM_CONTENT_TYPE, problem_body

    body = json.dumps(problem_body(status=status, detail=detail, code=code, instance=instance, extra=extra)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
