"""ASGI entry point (served by uvicorn: ``uvicorn config.asgi:application``)."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse a request body over the limit with 413, also when it has no Content-Length
    (chunked): Django's ASGI handler would otherwise spool all of it to disk first.

    Bodies with a Content-Length pass straight through (``RequestBodyLimitMiddleware`` checks
    the header); bodies without one are read here, up to the limit, and replayed to the app.
    """

    def __init__(self, app: ASGIApp, limit: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        if scope["type"] != "http" or b"content-length" in headers:
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        # Django reads the body only up to Content-Length: give it one.
        scope = dict(scope)
        scope["headers"] = [*scope.get("headers", []), (b"content-length", str(len(body)).encode())]
        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "type": "urn:clinic:problem:body-too-large",
                "title": "Request body too large",
                "status": 413,
                "detail": f"The request body is over {limit} bytes, the most this server accepts.",
                "code": "body-too-large",
                "instance": scope.get("path", ""),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _build() -> ASGIApp:
    django_app = get_asgi_application()
    from django.conf import settings

    return BodyLimit(
        django_app,  # type: ignore[arg-type]
        settings.CLINIC_MAX_REQUEST_BODY_BYTES,
        {"/hl7/v2": settings.CLINIC_HL7_HTTP_MAX_BODY_BYTES},
    )


application = _build()
