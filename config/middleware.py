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
        # HL7 v2 over HTTP answers an oversized message with an HL7 AR (and stores it): the
        # endpoint reads up to its own, larger limit.
        limit = (
            settings.CLINIC_HL7_HTTP_MAX_BODY_BYTES
            if request.path == "/hl7/v2"
            else settings.CLINIC_MAX_REQUEST_BODY_BYTES
        )
        if length > limit:
            return problem_response(
                request,
                status=413,
                detail=f"The request body is {length} bytes; this server accepts at most {limit} bytes.",
                code="body-too-large",
            )
        return self.get_response(request)
