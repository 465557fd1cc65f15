"""Request guards that run before any view."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from clinic.api.problems import problem_response


class RequestBodyLimitMiddleware:
    """Refuse a body larger than ``CLINIC_MAX_REQUEST_BODY_BYTES`` with 413 before reading it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return problem_response(request, status=400, detail=f"Invalid Content-Length header {raw!r}.")
        limit = settings.CLINIC_MAX_REQUEST_BODY_BYTES
        if length > limit:
            return problem_response(
                request,
                status=413,
                detail=f"The request body is {length} bytes; this server accepts at most {limit} bytes.",
                code="body-too-large",
            )
        return self.get_response(request)
