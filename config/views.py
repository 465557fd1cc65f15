"""Project-level views outside the REST API: health, and the JSON 404 of the API namespace."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from clinic.api.problems import problem_response


@csrf_exempt  # an unknown route is a 404 whatever the method; CSRF must not answer first
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    return problem_response(request, status=404, detail=f"No API endpoint at {request.path}.", code="no-such-endpoint")


def not_found(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404("Not found.")


API_PREFIXES = ("/api/",)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF refusals: problem JSON under /api/ (a session client forgot the token), Django's page
    elsewhere."""
    if request.path.startswith(API_PREFIXES):
        return problem_response(request, status=403, detail=f"CSRF check failed: {reason}", code="csrf-failed")
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        return problem_response(
            request, status=400, detail="The request was refused as malformed.", code="malformed-request"
        )
    from django.views.defaults import bad_request as django_bad_request

    return django_bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        return problem_response(request, status=500, detail="Unexpected error; it has been logged.")
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)


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
