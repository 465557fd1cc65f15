"""The floor of ``make bench-fhir``: plain Django views that return the rows the FHIR API serves,
as ``.values()`` + JSON, in the same server (same middleware, same database connection
handling). They check nothing but the tenant filter: no token, no scopes, no FHIR resource.

The URLs: ``/bench-floor/<tenant>/Observation?patient=<uuid>`` (the first 100 rows of the
patient, by ID) and ``/bench-floor/<tenant>/Observation/<uuid>``; everything else is
``config.urls``.
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from config.urls import handler400, handler500
from results.models import Observation

__all__ = ["handler400", "handler500", "urlpatterns"]


def search(request: HttpRequest, tenant_id: int) -> JsonResponse:
    patient_id = request.GET.get("patient", "")
    try:
        UUID(patient_id)
    except ValueError:
        return JsonResponse({"error": "patient must be a UUID"}, status=400)
    rows = list(Observation.objects.filter(tenant_id=tenant_id, patient_id=patient_id).order_by("id").values()[:100])
    return JsonResponse({"rows": rows})


def read(request: HttpRequest, tenant_id: int, observation_id: UUID) -> JsonResponse:
    rows = list(Observation.objects.filter(tenant_id=tenant_id, pk=observation_id).order_by().values()[:1])
    if not rows:
        return JsonResponse({"error": "not found"}, status=404)
    return JsonResponse(rows[0])


urlpatterns = [
    path("bench-floor/<int:tenant_id>/Observation", search),
    path("bench-floor/<int:tenant_id>/Observation/<uuid:observation_id>", read),
    path("", include("config.urls")),
]
