"""Who may see a page: a signed-in member of the tenant chosen, in a role the page admits.

- Not signed in: to the sign-in page, which returns here afterwards.
- Signed in without a tenant chosen (a member of several): to the tenant choice.
- Front desk: registration, search, booking, check-in, the day list. Clinical content (results,
  orders, notes, the clinical entries of a timeline, the inbox) is a 403 page for them.
- Another tenant's patient, encounter or result is a 404 page exactly like a missing one: the
  facades raise NotFound for both, and pages turn it into Http404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme

from clinic.contracts import SESSION_TENANT_KEY, NotFound, Principal, Role
from clinic.facade import AmbiguousTenant, user_principal
from web.session import to_sign_in

View = TypeVar("View", bound=Callable[..., HttpResponse])

CLINICAL_ROLES = frozenset({Role.CLINICIAN, Role.ADMIN})


class WebRequest(HttpRequest):
    """A request to a page: ``principal`` is set by ``page``."""

    principal: Principal


def principal_of(request: HttpRequest) -> Principal | None:
    """The signed-in user's principal in their chosen tenant (or their only one); None when
    they must choose one first. Raises PermissionDenied for a user of no active tenant."""
    user = request.user
    assert user.is_authenticated
    assert user.pk is not None
    tenant_id = request.session.get(SESSION_TENANT_KEY)
    try:
        principal = user_principal(user_id=user.pk, username=user.get_username(), tenant_id=tenant_id)
    except AmbiguousTenant:
        return None
    if principal is None:
        if tenant_id is not None:  # no longer a member of the chosen tenant
            request.session.pop(SESSION_TENANT_KEY, None)
            return principal_of(request)
        raise PermissionDenied("You are not a member of any clinic.")
    return principal


def may_see_clinical(principal: Principal) -> bool:
    return principal.role in CLINICAL_ROLES


def page(*, clinical: bool = False) -> Callable[[View], View]:
    """Make a view a page of the web app (see the module's rules). ``clinical``: front desk may
    not see it."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return to_sign_in(request)
            principal = principal_of(request)
            if principal is None:
                return HttpResponseRedirect("/tenant/?" + _next(request))
            request.principal = principal  # type: ignore[attr-defined]
            if clinical and not may_see_clinical(principal):
                raise PermissionDenied("Clinical content is for clinicians.")
            try:
                return view(request, *args, **kwargs)
            except NotFound as exc:
                # Another tenant's record answers exactly like a missing one.
                raise Http404(exc.message) from None

        return cast(View, wrapper)

    return decorate


def _next(request: HttpRequest) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": request.get_full_path()})


def safe_next(request: HttpRequest, candidate: str | None, default: str = "/") -> str:
    """``candidate`` when it is a path of this site, else ``default``."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default
