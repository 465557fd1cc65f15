"""The web app's error pages (403, 404): the layout, and nothing that tells whether a record
exists. Paths that are not the web app's (admin, the APIs) get Django's own pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import defaults

from web.session import NOT_PAGES


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(NOT_PAGES):
        return defaults.permission_denied(request, exception)
    return render(request, "web/403.html", {"reason": str(exception)}, status=403)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(NOT_PAGES):
        return defaults.page_not_found(request, exception)
    return render(request, "web/404.html", {}, status=404)
