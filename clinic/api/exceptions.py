"""The one exception handler of the REST API: every error becomes problem JSON.

Domain errors (``clinic.contracts``) map by family: NotFound 404, Conflict 409, InvalidInput 422,
NotPermitted 403. Request-shape errors: malformed JSON 400, invalid fields 422 (each field
named), bad query parameters 400. Anything unexpected is logged with an incident ID and answered
500 with that ID, never a stack trace.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.views import set_rollback

from clinic.api.problems import PROBLEM_CONTENT_TYPE, problem_body
from clinic.errors import Conflict, DomainError, FieldProblem, InvalidInput, NotFound, NotPermitted

logger = logging.getLogger("clinic.api")


class QueryParameterInvalid(drf.ValidationError):
    """Query parameters failed validation (answered 400, not 422: the request line is wrong)."""

    status_code = 400


def flatten_errors(detail: Any, prefix: str = "") -> list[FieldProblem]:
    """DRF's nested error structure as a flat list of (dotted field path, message)."""
    problems: list[FieldProblem] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # an item of a list (DRF keys list errors by index)
                path = f"{prefix}[{key}]"
            elif key in ("non_field_errors", "__all__"):
                path = prefix or "body"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            problems.extend(flatten_errors(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            problems.extend(FieldProblem(prefix or "body", str(item)) for item in detail)
        else:
            for index, item in enumerate(detail):
                problems.extend(flatten_errors(item, f"{prefix}[{index}]"))
    else:
        problems.append(FieldProblem(prefix or "body", str(detail)))
    return problems


def _response(context: dict[str, Any], status: int, detail: str, **kwargs: Any) -> JsonResponse:
    # A plain JsonResponse, not a DRF Response: errors are JSON whatever the client's Accept
    # header negotiated (a browser would otherwise get the browsable API's HTML).
    request = context.get("request")
    body = problem_body(status=status, detail=detail, instance=request.path if request else None, **kwargs)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> JsonResponse:
    set_rollback()
    if isinstance(exc, DomainError):
        status = (
            404
            if isinstance(exc, NotFound)
            else 409
            if isinstance(exc, Conflict)
            else 422
            if isinstance(exc, InvalidInput)
            else 403
            if isinstance(exc, NotPermitted)
            else 400
        )
        errors = exc.problems if isinstance(exc, InvalidInput) else None
        return _response(context, status, exc.message, code=exc.code, errors=errors, extra=exc.extra)
    if isinstance(exc, Http404):
        return _response(context, 404, "No such resource.")
    if isinstance(exc, DjangoPermissionDenied):
        return _response(context, 403, "You may not do this.")
    if isinstance(exc, RequestDataTooBig):
        return _response(context, 413, "The request body is larger than this server accepts.")
    if isinstance(exc, TooManyFieldsSent):
        return _response(context, 400, "Too many query or form parameters.", code="too-many-parameters")
    if isinstance(exc, SuspiciousOperation):
        return _response(context, 400, "The request was refused as malformed.", code="malformed-request")
    if isinstance(exc, DjangoValidationError):
        # e.g. a forged pagination cursor or an unparseable lookup value
        return _response(context, 400, "; ".join(exc.messages), code="invalid-request")
    if isinstance(exc, drf.ParseError):
        return _response(context, 400, str(exc.detail), code="malformed-body")
    if isinstance(exc, QueryParameterInvalid):
        errors = flatten_errors(exc.detail)
        return _response(
            context, 400, "Invalid query parameters: " + _summary(errors), code="invalid-query", errors=errors
        )
    if isinstance(exc, drf.ValidationError):
        errors = flatten_errors(exc.detail)
        return _response(
            context, 422, "The request body is not valid: " + _summary(errors), code="invalid", errors=errors
        )
    if isinstance(exc, drf.APIException):
        response = _response(context, exc.status_code, _text(exc.detail))
        if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
            view = context.get("view")
            request = context.get("request")
            header = view.get_authenticate_header(request) if view is not None and request is not None else None
            if header:
                response["WWW-Authenticate"] = header
        wait = getattr(exc, "wait", None)
        if isinstance(exc, drf.Throttled) and wait is not None:
            response["Retry-After"] = str(int(wait))
        return response
    incident = uuid.uuid4()
    logger.error("api.unhandled_error incident=%s", incident, exc_info=exc)
    return _response(
        context, 500, f"Unexpected error. Quote incident {incident} to support.", extra={"incident": str(incident)}
    )


def _summary(errors: list[FieldProblem]) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in errors)


def _text(detail: Any) -> str:
    if isinstance(detail, (list, dict)):
        return _summary(flatten_errors(detail))
    return str(detail)
