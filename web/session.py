"""Idle sessions: the tenant's policy (section ``session``) decides when a signed-in user who did
nothing is signed out.

Activity is a page or an htmx request the user made; a background request (the session timer's
status poll, a live region's refresh) sends ``X-Clinic-Background: 1`` and does not count. The
server decides: an idle session is ended here, whatever the page's own timer shows. The page
warns ``warning_minutes`` before and, at expiry, removes its content from the page and goes to
the sign-in page, which returns to where the user was (``web/static/web/app.js``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

SESSION_POLICY_SECTION = "session"
# Floats, so a policy may say 0.5 (the policy registry accepts 15 for 15.0, not 0.5 for 15).
SESSION_POLICY_DEFAULTS: dict[str, Any] = {"idle_timeout_minutes": 15.0, "warning_minutes": 2.0}

LAST_ACTIVITY_KEY = "web_last_activity"  # epoch seconds of the user's last action
IDLE_KEY = "web_idle_seconds"  # the policy of the tenant chosen, kept from the moment it was chosen
WARNING_KEY = "web_warning_seconds"
BACKGROUND_HEADER = "X-Clinic-Background"

# Paths that are not the web app's pages: their requests neither count as activity nor expire here
# (the REST API and FHIR answer for themselves; admin is Django's own).
NOT_PAGES = ("/api/", "/fhir/", "/hl7/", "/admin/", "/static/", "/healthz")


def policy_seconds(policy: dict[str, Any]) -> tuple[int, int]:
    """(idle timeout, warning) in seconds from a tenant's effective policy."""
    section = policy.get(SESSION_POLICY_SECTION) or {}
    idle = float(section.get("idle_timeout_minutes", SESSION_POLICY_DEFAULTS["idle_timeout_minutes"]))
    warning = float(section.get("warning_minutes", SESSION_POLICY_DEFAULTS["warning_minutes"]))
    idle_seconds = max(int(idle * 60), 10)
    return idle_seconds, min(max(int(warning * 60), 0), idle_seconds - 5)


def remember_policy(request: HttpRequest, *, tenant_id: int) -> None:
    """Keep the tenant's session policy in the session (read once, when the tenant is chosen)."""
    from clinic.facade import effective_policy

    idle, warning = policy_seconds(effective_policy(tenant_id=tenant_id))
    request.session[IDLE_KEY] = idle
    request.session[WARNING_KEY] = warning
    touch(request)


def touch(request: HttpRequest) -> None:
    request.session[LAST_ACTIVITY_KEY] = time.time()


def idle_seconds(request: HttpRequest) -> int:
    return int(request.session.get(IDLE_KEY) or SESSION_POLICY_DEFAULTS["idle_timeout_minutes"] * 60)


def warning_seconds(request: HttpRequest) -> int:
    return int(request.session.get(WARNING_KEY) or SESSION_POLICY_DEFAULTS["warning_minutes"] * 60)


def remaining_seconds(request: HttpRequest) -> float:
    last = request.session.get(LAST_ACTIVITY_KEY)
    if last is None:
        return float(idle_seconds(request))
    return idle_seconds(request) - (time.time() - float(last))


def is_background(request: HttpRequest) -> bool:
    return request.headers.get(BACKGROUND_HEADER) == "1"


def login_url_returning_to(next_path: str, *, expired: bool = False) -> str:
    query = {"next": next_path}
    if expired:
        query["expired"] = "1"
    return "/login/?" + urlencode(query)


def where_the_user_was(request: HttpRequest) -> str:
    """The page to return to after signing in again: for an htmx request, the page it came from
    (a fragment's URL is no page)."""
    if request.headers.get("HX-Request") == "true":
        current = request.headers.get("HX-Current-URL", "")
        parts = urlsplit(current)
        if parts.path:
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return "/"
    return request.get_full_path() if request.method == "GET" else "/"


def to_sign_in(request: HttpRequest, *, expired: bool = False) -> HttpResponse:
    """Send the user to the sign-in page (htmx: the whole page goes, not a fragment)."""
    target = login_url_returning_to(where_the_user_was(request), expired=expired)
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target)


class IdleSessionMiddleware:
    """Sign out a user idle longer than their tenant's policy allows, before the view runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(NOT_PAGES) or not request.user.is_authenticated:
            return self.get_response(request)
        if remaining_seconds(request) <= 0:
            logout(request)  # the session is flushed: its data is gone with it
            return to_sign_in(request, expired=True)
        if not is_background(request):
            touch(request)
        return self.get_response(request)
