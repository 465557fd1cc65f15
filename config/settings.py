"""Django settings of the clinic platform.

They only read the environment: importing them starts nothing and connects to nothing (``make
typecheck`` and ``manage.py check`` need no database). Everything that differs between machines
comes from environment variables:

- ``DATABASE_URL``: the PostgreSQL to use. When it is unset there is no database, and the first
  query fails saying how to get one: ``scripts/dev.py`` (behind ``make run``, ``make pytest``,
  ``make web``...) starts the embedded PostgreSQL under ``.data/`` and sets it for the commands
  it runs.
- ``REDIS_URL``: the Celery broker and live-update pub/sub (default redis://127.0.0.1:6379/0).
- ``CELERY_TASK_ALWAYS_EAGER=1``: run tasks in-process (the launcher sets it when Redis is down).
- ``CLINIC_QUEUE_PREFIX``: prefix for Celery queue names (tests use a unique one per run).
- ``DJANGO_SECRET_KEY``, ``DJANGO_DEBUG``, ``DJANGO_ALLOWED_HOSTS``, and the ``CLINIC_*`` settings
  below.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DJANGO_DEBUG", default=False)  # `make run` turns it on for development
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-secret-key-change-me-in-production")
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "waffle",
    "django_htmx",
    "template_partials",  # one template serves a page and its fragments ({% partialdef %})
    "csp",
    # The kernel, then the bounded contexts from the bottom layer up (docs/architecture.md).
    "clinic",
    "identity",
    "terminology",
    "encounters",
    "billing",
    "orders",
    "results",
    "interop",
    "web",
]

MIDDLEWARE = [
    "config.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "web.session.IdleSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "waffle.middleware.WaffleMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "config.urls"
CSRF_FAILURE_VIEW = "config.views.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.context.layout",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": (
        dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
        if DATABASE_URL
        # No database: any use of it raises DatabaseNotConfigured, which says how to get one.
        else {"ENGINE": "config.no_database"}
    ),
}
# Request workers (gunicorn, one thread per request for its lifetime) keep their connection open
# (CONN_MAX_AGE). CLINIC_DB_POOL_MAX > 0 gives the process a pool of that many connections
# instead, for processes whose reads run in shared threads: the stream server (config/streams.py
# sets 4) checks a connection out for each read only (ADR 7). Processes that fork after
# connecting (mllp_listener --processes) must not share a pool.
CLINIC_DB_POOL_MAX = int(os.environ.get("CLINIC_DB_POOL_MAX", 0))
if CLINIC_DB_POOL_MAX > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": CLINIC_DB_POOL_MAX,
        "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# --- The web app (web/) ----------------------------------------------------------------------
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# The idle timeout comes from the tenant's policy (section "session", web.session); this is the
# longest a session lives whatever it does.
SESSION_COOKIE_AGE = 12 * 60 * 60
CSRF_COOKIE_HTTPONLY = False  # the page's script reads it to send X-CSRFToken with htmx requests
# A strict Content-Security-Policy (django-csp 4) on the web app's pages: scripts and styles from
# this origin, or inline only with the response's nonce; nothing from another host. Django admin
# and the REST/FHIR/HL7 edges are not pages of ours (admin and the API docs carry inline code of
# their own) and are left out. ADR 0009.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/admin/", "/api/", "/fhir/", "/hl7/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# WhiteNoise warns when this directory is missing; scripts/dev.py and the test settings create it
# (collectstatic fills it in production).
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / ".data" / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic in development

# --- Live streams (the stream server, config/streams.py; ADR 7) ------------------------------------
# A stream re-checks its client's credentials (token, or session and membership) this often, so a
# revoked token, an ended session or a removed membership ends its open streams within this time.
CLINIC_STREAM_RECHECK_SECONDS = float(os.environ.get("CLINIC_STREAM_RECHECK_SECONDS", 5))
# A stream ends after about this long (90-100 %, spread so that clients do not all come back
# at once); the client reconnects with Last-Event-ID and resumes where it was.
CLINIC_STREAM_MAX_SECONDS = float(os.environ.get("CLINIC_STREAM_MAX_SECONDS", 900))
# A comment line this often keeps idle streams open through proxies.
CLINIC_STREAM_HEARTBEAT_SECONDS = float(os.environ.get("CLINIC_STREAM_HEARTBEAT_SECONDS", 15))

# --- Request limits --------------------------------------------------------------------------
# Bodies above this size are refused with 413 before they are read. HL7 and JSON payloads of a
# clinic are far below it; a larger body is a mistake or an attack.
CLINIC_MAX_REQUEST_BODY_BYTES = int(os.environ.get("CLINIC_MAX_REQUEST_BODY_BYTES", 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = CLINIC_MAX_REQUEST_BODY_BYTES

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clinic.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["clinic.api.permissions.TenantMember"],
    "DEFAULT_PARSER_CLASSES": ["clinic.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "clinic.api.exceptions.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clinic platform API",
    "DESCRIPTION": (
        "REST API of the clinic platform. Authenticate with `Authorization: Bearer <token>` "
        "(an API client token from `manage.py create_api_client`) or a session. Errors are "
        "problem JSON (RFC 9457)."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Serve Swagger UI from the installed sidecar package, not a CDN (clinics may be offline).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ----------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CLINIC_QUEUE_PREFIX = os.environ.get("CLINIC_QUEUE_PREFIX", "")
CLINIC_EVENTS_QUEUE = f"{CLINIC_QUEUE_PREFIX}events"
CLINIC_DEFAULT_QUEUE = f"{CLINIC_QUEUE_PREFIX}default"

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
# Live updates (timeline entries pushed to server-sent-event streams) use Redis pub/sub.
CLINIC_LIVE_REDIS_URL = os.environ.get("CLINIC_LIVE_REDIS_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_ACKS_LATE = True  # a killed worker leaves its task on the broker...
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ...and the task goes back to the queue
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = CLINIC_DEFAULT_QUEUE
CELERY_TASK_ROUTES = {
    "clinic.*": {"queue": CLINIC_EVENTS_QUEUE},
    "interop.*": {"queue": CLINIC_DEFAULT_QUEUE},
    "results.*": {"queue": CLINIC_DEFAULT_QUEUE},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than the longest retry countdown, so a delayed retry is not redelivered early.
    "visibility_timeout": 3600,
    "socket_connect_timeout": 2,
}
# A commit must not hang when Redis is down: give up quickly, the outbox sweep delivers later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "clinic.sweep_outbox": {
        "task": "clinic.sweep_outbox",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "interop.sweep_outbound": {
        "task": "interop.sweep_outbound",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    "results.retry_held": {
        "task": "results.retry_held",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
}

# --- Event outbox ----------------------------------------------------------------------------
# An event not delivered this many seconds after it was handed to the broker is re-dispatched
# by the sweep; each further re-dispatch waits twice as long, up to the cap.
CLINIC_OUTBOX_SWEEP_GRACE_SECONDS = float(os.environ.get("CLINIC_OUTBOX_SWEEP_GRACE_SECONDS", 5))
CLINIC_OUTBOX_SWEEP_MAX_BACKOFF_SECONDS = 600.0
CLINIC_OUTBOX_SWEEP_BATCH = 500

# --- Outbound HL7 (orders to labs) -----------------------------------------------------------------
# HL7 v2 intake: the largest message processed (larger ones are answered AR), how much of a
# message the store keeps, the HTTP body limit of POST /hl7/v2, and the time zone of HL7 times
# sent without an offset.
CLINIC_HL7_MAX_MESSAGE_BYTES = int(os.environ.get("CLINIC_HL7_MAX_MESSAGE_BYTES", 1024 * 1024))
CLINIC_HL7_STORE_BYTES = 16 * 1024 * 1024
CLINIC_HL7_HTTP_MAX_BODY_BYTES = 16 * 1024 * 1024
CLINIC_HL7_LOCAL_TIMEZONE = os.environ.get("CLINIC_HL7_LOCAL_TIMEZONE", "Europe/London")
CLINIC_HL7_SENDER_CACHE_SECONDS = float(os.environ.get("CLINIC_HL7_SENDER_CACHE_SECONDS", 5))
# A revoked API token stops reaching the FHIR API within this many seconds (0: no cache).
CLINIC_FHIR_TOKEN_CACHE_SECONDS = float(os.environ.get("CLINIC_FHIR_TOKEN_CACHE_SECONDS", 5))
# A sorted FHIR search counts rows stamped this long before its first page as changed since.
CLINIC_FHIR_PAGING_GRACE_SECONDS = float(os.environ.get("CLINIC_FHIR_PAGING_GRACE_SECONDS", 1))
CLINIC_FHIR_BASE_URL = os.environ.get("CLINIC_FHIR_BASE_URL", "")  # default: from the request
CLINIC_FHIR_IDENTIFIER_BASE = os.environ.get("CLINIC_FHIR_IDENTIFIER_BASE", "https://clinic.example/fhir/sid")
CLINIC_MLLP_TIMEOUT = float(os.environ.get("CLINIC_MLLP_TIMEOUT", 10.0))
# Seconds before the n-th retry of a message whose lab could not be reached (the last repeats).
CLINIC_OUTBOUND_RETRY_DELAYS = [2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0]

# --- Terminology ----------------------------------------------------------------------------------
# How often a process checks whether concept maps were published elsewhere (its translation
# cache is emptied when they were). The publishing process empties its own cache at once.
TERMINOLOGY_CACHE_CHECK_SECONDS = float(os.environ.get("TERMINOLOGY_CACHE_CHECK_SECONDS", 1.0))
# Countdown (seconds) before the n-th retry of a delivery whose subscriber failed.
CLINIC_EVENT_RETRY_DELAYS = [1.0, 2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0]

# --- Logging: structured, and no patient data (event names and IDs only) ----------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "kv": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "kv"}},
    "root": {"handlers": ["console"], "level": os.environ.get("CLINIC_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
