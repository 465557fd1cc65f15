"""WSGI entry point: the request workers (``gunicorn -c deploy/gunicorn.conf.py config.wsgi``)
serve pages, the REST and FHIR APIs, admin, ``/hl7/v2`` and ``/healthz``. Live streams are served
by the stream server (``config/streams.py``); the front joins both on one origin (ADR 7)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from typing import IO, Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

SPOOL_BYTES = 1024 * 1024  # a chunked body larger than this waits in a temporary file, not in memory
READ_BYTES = 64 * 1024


class BodyLimit:
    """Refuse a request body over the limit with 413, also when it has no Content-Length
    (chunked): Django reads a WSGI body only up to Content-Length, so without one it would see
    an empty body.

    Bodies with a Content-Length pass straight through (``RequestBodyLimitMiddleware`` checks
    the header before anything reads them); chunked ones are read here, up to the limit, and
    handed to Django with their length.
    """

    def __init__(self, app: WSGIApp, limit: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.per_path = per_path or {}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if environ.get("CONTENT_LENGTH") or not chunked:
            return self.app(environ, start_response)
        limit = self.per_path.get(environ.get("PATH_INFO", ""), self.limit)
        source: IO[bytes] = environ["wsgi.input"]
        # Handed to Django: freed with the request (a spilled temporary file is deleted when collected).
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        size = 0
        while chunk := source.read(READ_BYTES):
            size += len(chunk)
            if size > limit:
                body.close()
                return self._refuse(environ, start_response, limit)
            body.write(chunk)
        body.seek(0)
        return self.app({**environ, "CONTENT_LENGTH": str(size), "wsgi.input": body}, start_response)

    @staticmethod
    def _refuse(environ: Environ, start_response: StartResponse, limit: int) -> list[bytes]:
        payload = json.dumps(
            {
                "type": "urn:clinic:problem:body-too-large",
                "title": "Request body too large",
                "status": 413,
                "detail": f"The request body is over {limit} bytes, the most this server accepts.",
                "code": "body-too-large",
                "instance": environ.get("PATH_INFO", ""),
            }
        ).encode()
        start_response(
            "413 Request Entity Too Large",
            [("Content-Type", "application/problem+json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


def _build() -> WSGIApp:
    django_app = get_wsgi_application()
    from django.conf import settings

    return BodyLimit(
        django_app,
        settings.CLINIC_MAX_REQUEST_BODY_BYTES,
        {"/hl7/v2": settings.CLINIC_HL7_HTTP_MAX_BODY_BYTES},
    )


application = _build()
