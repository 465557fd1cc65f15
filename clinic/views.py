"""Project-level views outside the REST API: health, and the JSON 404 of the API namespace."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from clinic.api.problems import problem_response


def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    return problem_response(request, status=404, detail=f"No API endpoint at {request.path}.", code="no-such-endpoint")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and dependencies, for load balancers and on-call: 200 when the database answers."""
    import redis

    checks: dict[str, str] = {}
    status = 200
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
        status = 503
    if settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = "not used: tasks run eagerly in the web process"
    else:
        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1).ping()
            checks["broker"] = "ok"
        except Exception as exc:
            # Degraded, not down: events wait in the outbox and the sweep delivers them later.
            checks["broker"] = f"unavailable: {type(exc).__name__}; events wait in the outbox"
    return JsonResponse({"status": "ok" if status == 200 else "unavailable", "checks": checks}, status=status)
