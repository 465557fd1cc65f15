"""Problem details (RFC 9457, ``application/problem+json``) for every error the REST API gives."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from clinic.errors import FieldProblem

PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
}


def problem_body(
    *,
    status: int,
    detail: str,
    code: str | None = None,
    instance: str | None = None,
    errors: list[FieldProblem] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    code = code or TITLES.get(status, "error").lower().replace(" ", "-")
    body: dict[str, Any] = {
        "type": f"urn:clinic:problem:{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    if extra:
        body.update(extra)
    return body


def problem_response(request: HttpRequest | None, *, status: int, detail: str, **kwargs: Any) -> JsonResponse:
    """A plain Django response (for middleware and URL fallbacks outside DRF)."""
    body = problem_body(status=status, detail=detail, instance=request.path if request else None, **kwargs)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)
