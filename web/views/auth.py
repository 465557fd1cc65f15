"""Signing in and out, choosing the tenant, the session timer's endpoints, and ``/``."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.contracts import SESSION_TENANT_KEY
from clinic.facade import memberships_of
from web.access import safe_next
from web.session import remaining_seconds, remember_policy, to_sign_in, touch

SEVERAL_TENANTS_KEY = "web_several_tenants"


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    """``/``: the day list for a signed-in user, else the sign-in page."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect("/login/")
    return HttpResponseRedirect("/day/")


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_path = safe_next(request, request.POST.get("next") or request.GET.get("next"), "/day/")
    form = AuthenticationForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        memberships = memberships_of(user_id=user.pk)
        if not memberships:
            form.add_error(None, "This account is not a member of any clinic. Ask your clinic's administrator.")
        else:
            login(request, user)  # a new session (and CSRF token): nothing of the last one carries over
            request.session[SEVERAL_TENANTS_KEY] = len(memberships) > 1
            if len(memberships) == 1:
                request.session[SESSION_TENANT_KEY] = memberships[0].tenant.id
                remember_policy(request, tenant_id=memberships[0].tenant.id)
                return HttpResponseRedirect(next_path)
            return HttpResponseRedirect("/tenant/?" + _query(next_path))
    context = {
        "form": form,
        "next": next_path,
        "expired": request.GET.get("expired") == "1",
        "signed_out": request.GET.get("signed_out") == "1",
    }
    return render(request, "web/login.html", context, status=400 if form.errors else 200)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect("/login/?signed_out=1")


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def choose_tenant(request: HttpRequest) -> HttpResponse:
    """A user of several clinics chooses the one they work in now (and may switch later)."""
    if not request.user.is_authenticated:
        return to_sign_in(request)
    memberships = memberships_of(user_id=request.user.pk)
    if not memberships:
        raise PermissionDenied("You are not a member of any clinic.")
    next_path = safe_next(request, request.POST.get("next") or request.GET.get("next"), "/day/")
    error = ""
    if request.method == "POST":
        chosen = next((m for m in memberships if str(m.tenant.id) == request.POST.get("tenant")), None)
        if chosen is not None:
            request.session[SESSION_TENANT_KEY] = chosen.tenant.id
            remember_policy(request, tenant_id=chosen.tenant.id)
            return HttpResponseRedirect(next_path)
        error = "Choose the clinic you are working in."
    context = {
        "memberships": memberships,
        "current": request.session.get(SESSION_TENANT_KEY),
        "next": next_path,
        "error": error,
    }
    return render(request, "web/tenant.html", context, status=400 if error else 200)


@never_cache
@require_GET
def session_status(request: HttpRequest) -> JsonResponse:
    """How long the session has left (a background request: it does not count as activity)."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False, "remaining_seconds": 0})
    return JsonResponse({"signed_in": True, "remaining_seconds": max(0, int(remaining_seconds(request)))})


@never_cache
@require_POST
def session_extend(request: HttpRequest) -> JsonResponse:
    """ "Stay signed in": the user acted (the middleware has counted it already)."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False, "remaining_seconds": 0}, status=401)
    touch(request)
    return JsonResponse({"signed_in": True, "remaining_seconds": int(remaining_seconds(request))})


def _query(next_path: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": next_path})
