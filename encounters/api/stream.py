"""GET /api/encounters/{id}/stream: the encounter's timeline as server-sent events.

An async view (served by the ASGI server): entries after ``Last-Event-ID`` (header, or
``?last_event_id=``) come first from the database, then new ones as they are pushed through
Redis pub/sub. The SSE ``id`` of each event is the entry's position in the timeline (``seq``,
which is also the order entries commit in), so a client that reconnects resumes where it left
off, with no gap and no repeat. A comment line is sent every 15 seconds to keep proxies
from closing the connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase

from clinic.api.authentication import BearerTokenAuthentication
from clinic.api.problems import problem_response
from clinic.contracts import Principal
from encounters import live, selectors

HEARTBEAT_SECONDS = 15.0


def _principal(request: HttpRequest) -> Principal | None:
    """The caller, by bearer token or session: the same rules as the REST API."""
    from rest_framework.authentication import SessionAuthentication
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request

    from clinic.api.permissions import resolve_principal

    drf_request = Request(request, authenticators=[BearerTokenAuthentication(), SessionAuthentication()])
    try:
        return resolve_principal(drf_request)
    except APIException:
        return None


def _backlog(tenant_id: int, encounter_id: UUID, after: int) -> list[dict[str, Any]]:
    entries = selectors.timeline_after(tenant_id=tenant_id, encounter_id=encounter_id, after_seq=after)
    return [selectors.timeline_json(e) for e in entries]


def _frame(entry: dict[str, Any]) -> bytes:
    return f"id: {entry['seq']}\nevent: timeline\ndata: {json.dumps(entry)}\n\n".encode()


async def encounter_stream(request: HttpRequest, encounter_id: UUID) -> HttpResponseBase:
    principal = await sync_to_async(_principal)(request)
    if principal is None:
        response = problem_response(
            request, status=401, detail="Authentication required: send 'Authorization: Bearer <token>'."
        )
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if not principal.has_scope("api:read"):
        return problem_response(request, status=403, detail="This operation requires the scope 'api:read'.")
    try:
        await sync_to_async(selectors.get_encounter_row)(tenant_id=principal.tenant.id, encounter_id=encounter_id)
    except Exception:
        return problem_response(request, status=404, detail="No such encounter.", code="encounter-not-found")
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or "0"
    try:
        after = int(raw)
    except ValueError:
        return problem_response(request, status=400, detail=f"Last-Event-ID must be a timeline position, not {raw!r}.")
    return StreamingHttpResponse(
        _events(principal.tenant.id, encounter_id, after),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(tenant_id: int, encounter_id: UUID, after: int) -> AsyncIterator[bytes]:
    client = aioredis.Redis.from_url(settings.CLINIC_LIVE_REDIS_URL)
    pubsub = client.pubsub()
    try:
        # Subscribe before reading the backlog, so nothing lands in between unseen.
        await pubsub.subscribe(live.channel(encounter_id))
        last = after
        yield b": connected\n\n"
        for entry in await sync_to_async(_backlog)(tenant_id, encounter_id, last):
            last = entry["seq"]
            yield _frame(entry)
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=HEARTBEAT_SECONDS)
            if message is None:
                yield b": keep-alive\n\n"
                continue
            entry = json.loads(message["data"])
            if entry["seq"] <= last:
                continue
            if entry["seq"] > last + 1:
                # Pushes can overtake each other (several workers): the entries in between are
                # committed already (seq order is commit order), so read them first.
                for missed in await sync_to_async(_backlog)(tenant_id, encounter_id, last):
                    if missed["seq"] < entry["seq"]:
                        last = missed["seq"]
                        yield _frame(missed)
            last = entry["seq"]
            yield _frame(entry)
    except asyncio.CancelledError:
        raise
    finally:
        await pubsub.aclose()
        await client.aclose()
