"""Every API request acts for exactly one tenant, taken from the authenticated user or client."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from clinic import selectors
from clinic.contracts import SESSION_TENANT_KEY, Principal, Scope
from clinic.errors import AmbiguousTenant


def resolve_principal(request: Request) -> Principal:
    """The caller's principal. Raises NotAuthenticated (401) or PermissionDenied (403)."""
    user = request.user
    if user is None or not getattr(user, "is_authenticated", False):
        raise exceptions.NotAuthenticated("Authentication required: send 'Authorization: Bearer <token>'.")
    client_principal = getattr(user, "principal", None)  # set by BearerTokenAuthentication
    if isinstance(client_principal, Principal):
        return client_principal
    assert user.pk is not None  # an authenticated Django user is saved
    try:
        principal = selectors.user_principal(
            user_id=user.pk, username=user.get_username(), tenant_id=request.session.get(SESSION_TENANT_KEY)
        )
    except AmbiguousTenant as exc:
        raise exceptions.PermissionDenied(str(exc)) from exc
    if principal is None:
        raise exceptions.PermissionDenied("You are not a member of any active tenant.")
    return principal


class TenantMember(permissions.BasePermission):
    """Authenticated, acting for a tenant, and holding the scope the view requires for the method
    (``api:read`` for safe methods, ``api:write`` otherwise, unless the view says more)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = resolve_principal(request)
        request.principal = principal  # type: ignore[attr-defined]
        scope = view.required_scope(request) if hasattr(view, "required_scope") else default_scope(request)
        if not principal.has_scope(scope):
            # The scope's value, quoted ('hl7:submit'), never the enum's repr.
            raise exceptions.PermissionDenied(f"This operation requires the scope '{scope}'.")
        return True


def default_scope(request: Request) -> str:
    return Scope.API_READ if request.method in permissions.SAFE_METHODS else Scope.API_WRITE
