"""Bearer-token authentication of API clients (``Authorization: Bearer <token>``)."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from clinic import selectors, services
from clinic.contracts import Principal


class ApiClientUser:
    """``request.user`` for a request made by an API client (not a Django user)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.pk = principal.id
        self.username = f"client:{principal.name}"

    def __str__(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiClientUser, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None  # another scheme (e.g. Basic): let other authenticators decide
        token = token.strip()
        if not token or " " in token:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        client = selectors.client_for_token(token)
        if client is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        services.touch_api_client(client_id=client.pk)
        return ApiClientUser(selectors.client_principal(client)), client

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
