"""The day list (``/day/``): the appointments and walk-ins of a site and practitioner on a day."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from web.access import page


@require_GET
@page()
def day_list(request: HttpRequest) -> HttpResponse:
    return render(request, "web/day.html", {})
