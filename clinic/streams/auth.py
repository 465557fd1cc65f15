"""Who opens a stream: the same rules as the REST API (a bearer token of an API client, or a
staff user's session cookie and their membership), resolved from the request's headers alone.

Runs in a thread of the stream server (database reads). The credentials are kept with the
stream and resolved again every ``CLINIC_STREAM_RECHECK_SECONDS``: a revoked token, a logged-out
or expired session, a deactivated user or tenant, or a removed membership ends the stream.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from clinic.contracts import Principal


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client sent to prove who it is: its Authorization header and session cookie."""

    authorization: str
    session_key: str

    @classmethod
    def from_headers(cls, headers: dict[bytes, bytes]) -> Credentials:
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        session_key = ""
        cookie_header = headers.get(b"cookie", b"").decode("latin-1")
        if cookie_header:
            cookies: SimpleCookie = SimpleCookie()
            with contextlib.suppress(CookieError):  # a malformed Cookie header carries no session
                cookies.load(cookie_header)
            morsel = cookies.get(settings.SESSION_COOKIE_NAME)
            session_key = morsel.value if morsel is not None else ""
        return cls(authorization=authorization, session_key=session_key)

    @property
    def key(self) -> str:
        """A digest that names these credentials in memory (never the token itself)."""
        return hashlib.sha256(f"{self.authorization}\0{self.session_key}".encode()).hexdigest()


class Refused(Exception):
    """The credentials do not name a principal: ``status`` is 401 (none, or invalid) or 403 (a
    user who is no member of an active tenant)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def resolve(credentials: Credentials) -> Principal:
    """The principal of these credentials, exactly as the REST API finds it (DRF's
    authenticators, then ``resolve_principal``). Raises Refused."""
    from importlib import import_module

    from django.contrib.auth import get_user
    from rest_framework.authentication import SessionAuthentication
    from rest_framework.exceptions import APIException, NotAuthenticated
    from rest_framework.request import Request

    from clinic.api.authentication import BearerTokenAuthentication
    from clinic.api.permissions import resolve_principal

    request = HttpRequest()
    request.method = "GET"
    request.path = "/stream"
    if credentials.authorization:
        request.META["HTTP_AUTHORIZATION"] = credentials.authorization
    session_store = import_module(settings.SESSION_ENGINE).SessionStore  # as SessionMiddleware finds it
    request.session = session_store(credentials.session_key or None)
    request.user = SimpleLazyObject(lambda: get_user(request))  # type: ignore[assignment]
    drf_request = Request(request, authenticators=[BearerTokenAuthentication(), SessionAuthentication()])
    try:
        return resolve_principal(drf_request)
    except NotAuthenticated as exc:
        raise Refused(401, str(exc.detail)) from exc
    except APIException as exc:
        status = exc.status_code if exc.status_code in (401, 403) else 401
        raise Refused(status, str(exc.detail)) from exc
