"""What every page's layout needs: who is signed in, where, what they may open, and the session
policy its timer follows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clinic.contracts import Principal, Role
from web.session import idle_seconds, warning_seconds


def layout(request: HttpRequest) -> dict[str, Any]:
    principal: Principal | None = getattr(request, "principal", None)
    if principal is None:
        return {}
    clinical = principal.role in (Role.CLINICIAN, Role.ADMIN)
    nav = [("Day list", "/day/"), ("Patients", "/patients/")]
    if clinical:
        nav.append(("Inbox", "/inbox/"))
    return {
        "principal": principal,
        "role_label": principal.role.label if principal.role else "",
        "may_see_clinical": clinical,
        "is_admin": principal.role is Role.ADMIN,
        "nav": [(label, href, request.path.startswith(href)) for label, href in nav],
        "idle_seconds": idle_seconds(request),
        "warning_seconds": warning_seconds(request),
        "several_tenants": request.session.get("web_several_tenants", False),
    }
