"""The HTTP edge of the FHIR API: one view routes every ``/fhir/...`` request to its
interaction, so every answer (errors included) is FHIR JSON and every write is 405."""

from __future__ import annotations

import logging
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest, get_str_from_wsgi
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from interop.fhir import auth, everything, read, search
from interop.fhir.capability import capability_statement
from interop.fhir.errors import (
    BadRequest,
    FhirError,
    Forbidden,
    MethodNotAllowed,
    NotAcceptable,
    ResourceNotFound,
    outcome,
)
from interop.fhir.registry import Ctx

log = logging.getLogger("interop.fhir")
FHIR_JSON = "application/fhir+json; charset=utf-8"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
RELEASED = "2026-12-01"


def respond(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type=FHIR_JSON)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _base(request: HttpRequest) -> str:
    configured = getattr(settings, "CLINIC_FHIR_BASE_URL", "")
    return configured.rstrip("/") if configured else request.build_absolute_uri("/fhir").rstrip("/")


def _items(request: HttpRequest) -> list[tuple[str, str]]:
    """The query's parameters in the order given (the self link keeps it)."""
    query = request.META.get("QUERY_STRING", "")
    if isinstance(request, WSGIRequest):
        # PEP 3333 hands the query string over as latin-1; raw (not percent-encoded) UTF-8 from a
        # client means UTF-8, as Django reads it for request.GET and ASGI already decodes it.
        query = get_str_from_wsgi(request.environ, "QUERY_STRING", "")
    return _checked(parse_qsl(query, keep_blank_values=True))


def _checked(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Parameters a search can use: no NUL characters (no text column can hold one)."""
    for key, value in items:
        if "\x00" in key or "\x00" in value:
            raise BadRequest(
                f"Search parameter {key.replace(chr(0), '')!r} holds a NUL character (%00).", expression=[key]
            )
    return items


def _check_accept(accept: str) -> None:
    """An Accept that admits no JSON (application/fhir+xml alone, say) gets 406: the server
    answers in JSON only (``_format`` overrides Accept, http://hl7.org/fhir/R4/http.html#mime-type)."""
    if not accept.strip():
        return
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if kinds & {"*/*", "application/*", "application/json", "application/fhir+json", "application/json+fhir"}:
        return
    raise NotAcceptable(f"This server answers in application/fhir+json only, not {accept!r}.")


def _strict(request: HttpRequest) -> bool:
    prefer = request.headers.get("Prefer", "")
    return any(p.strip().replace(" ", "") == "handling=strict" for p in prefer.split(","))


def _context(request: HttpRequest) -> Ctx:
    principal = auth.principal(request.headers.get("Authorization", ""))
    return Ctx(tenant_id=principal.tenant.id, base=_base(request), principal=principal)


def _require(ctx: Ctx, type_name: str) -> None:
    if not ctx.can_read(type_name):
        raise Forbidden(f"Reading {type_name} requires the scope system/{type_name}.read (or system/*.read).")


def _resource_headers(resource: dict[str, Any]) -> dict[str, str]:
    """ETag: the version (weak, http://hl7.org/fhir/R4/http.html#versioning); a type without
    versions gets one from lastUpdated to the millisecond, since Last-Modified has only seconds."""
    headers = {}
    meta = resource.get("meta", {})
    when = datetime.fromisoformat(meta["lastUpdated"].replace("Z", "+00:00")) if meta.get("lastUpdated") else None
    if meta.get("versionId"):
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    elif when is not None:
        headers["ETag"] = f'W/"t{int(when.timestamp() * 1000)}"'
    if when is not None:
        headers["Last-Modified"] = format_datetime(when, usegmt=True)
    return headers


def _not_modified(request: HttpRequest, headers: dict[str, str]) -> bool:
    """If-None-Match (weak comparison) or, without it, If-Modified-Since."""
    tags = request.headers.get("If-None-Match")
    if tags is not None and "ETag" in headers:
        wanted = {t.strip().removeprefix("W/") for t in tags.split(",")}
        return "*" in wanted or headers["ETag"].removeprefix("W/") in wanted
    since = request.headers.get("If-Modified-Since")
    if since and "Last-Modified" in headers:
        try:
            return parsedate_to_datetime(headers["Last-Modified"]) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _read_response(request: HttpRequest, resource: dict[str, Any]) -> HttpResponse:
    headers = _resource_headers(resource)
    if _not_modified(request, headers):
        response = HttpResponse(status=304)
        # A 304 has no body, so no Content-Type (RFC 9110 15.4.5): Django would say text/html.
        del response["Content-Type"]
        for key, value in headers.items():
            response[key] = value
        return response
    return respond(resource, headers=headers)


def _write_refused(request: HttpRequest, path: str) -> FhirError:
    what = (
        "a transaction or batch Bundle" if not path and request.method == "POST" else f"{request.method} /fhir/{path}"
    )
    return MethodNotAllowed(
        f"This FHIR API is read-only: {what} is not allowed, and nothing was changed. "
        "Write through the clinic's HL7 v2 interface or REST API.",
        headers={"Allow": "GET, HEAD" if path else "GET"},
    )


@csrf_exempt
def fhir(request: HttpRequest, path: str = "") -> HttpResponse:
    try:
        return _route(request, path.strip("/"))
    except FhirError as exc:
        return respond(exc.body(), exc.status, exc.headers)
    except Exception:
        log.exception("fhir.error", extra={"path": request.path, "method": request.method})
        return respond(outcome(("fatal", "exception", "The server failed to answer; the error has been logged.")), 500)


def _route(request: HttpRequest, path: str) -> HttpResponse:
    parts = path.split("/") if path else []
    method = request.method or "GET"
    items = _items(request)
    given_format = False
    for key, value in items:
        if key == "_format":
            search.check_format(value)
            given_format = True
    if not given_format:
        _check_accept(request.headers.get("Accept", ""))
    if parts == ["metadata"]:
        if method not in ("GET", "HEAD"):
            raise _write_refused(request, path)
        return respond(capability_statement(_base(request), RELEASED))
    is_search_post = method == "POST" and len(parts) == 2 and parts[1] == "_search"
    if method in WRITES and not is_search_post:
        # Decided before authentication: whoever asks, nothing is written.
        raise _write_refused(request, path)
    if method not in ("GET", "HEAD") and not is_search_post:
        raise MethodNotAllowed(f"{method} is not supported.", headers={"Allow": "GET, HEAD"})
    if not parts:
        raise BadRequest("Name a resource type: GET /fhir/<type>?... (see /fhir/metadata).")
    resource = read.resource_type(parts[0])
    ctx = _context(request)
    _require(ctx, resource.name)
    if len(parts) == 1 or is_search_post or (len(parts) == 2 and parts[1] == "_search"):
        if is_search_post:
            content_type = request.content_type or ""
            if content_type != "application/x-www-form-urlencoded":
                raise BadRequest(
                    "POST _search takes application/x-www-form-urlencoded parameters, "
                    f"not {content_type or 'no content type'}."
                )
            items += _checked(parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True))
        req = search.parse(ctx, resource, items, strict=_strict(request))
        return respond(search.run(ctx, req))
    resource_id = parts[1]
    if len(parts) == 2:
        return _read_response(request, read.read(ctx, resource, resource_id))
    if parts[2] == "$everything" and len(parts) == 3 and resource.name in ("Patient", "Encounter"):
        return respond(everything.everything(ctx, resource, resource_id, items))
    if parts[2] == "_history":
        if len(parts) == 3:
            return respond(read.history(ctx, resource, resource_id))
        if len(parts) == 4:
            return _read_response(request, read.vread(ctx, resource, resource_id, parts[3]))
    raise ResourceNotFound(f"No such FHIR interaction: {method} /fhir/{path}.")
