"""Test settings: the project's settings (``config.settings``), plus the probe app, a private
queue namespace and a broker address behind a TCP proxy the tests can cut (see
tests/support/proxy.py)."""

import os
import socket
import uuid
from urllib.parse import urlsplit, urlunsplit

# Before the project settings read it: this run's queues cannot collide with a developer's
# worker (or another test run) on the same Redis.
os.environ["CLINIC_QUEUE_PREFIX"] = f"test-{uuid.uuid4().hex[:8]}-"
os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)

from config.settings import *  # noqa: F403
from config.settings import DATABASES, INSTALLED_APPS, REDIS_URL, STATIC_ROOT

INSTALLED_APPS = [*INSTALLED_APPS, "tests.probe"]

DATABASES["default"]["CONN_MAX_AGE"] = 0  # worker threads must not keep connections open

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The app reaches Redis through a proxy on this port; the real server is REDIS_URL.
REDIS_TARGET = urlsplit(REDIS_URL)
BROKER_PROXY_PORT = _free_port()
CELERY_BROKER_URL = urlunsplit(REDIS_TARGET._replace(netloc=f"127.0.0.1:{BROKER_PROXY_PORT}"))
CLINIC_LIVE_REDIS_URL = CELERY_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = False

# Fast retries and sweeps, so failure tests finish in seconds.
CLINIC_EVENT_RETRY_DELAYS = [0.3, 0.3, 0.5, 1.0]
CLINIC_OUTBOX_SWEEP_GRACE_SECONDS = 1.0
CLINIC_OUTBOUND_RETRY_DELAYS = [0.3, 0.5, 1.0]
CLINIC_MLLP_TIMEOUT = 3.0

# Tests change lab partners between messages: look the sender up every time.
CLINIC_HL7_SENDER_CACHE_SECONDS = 0.0
CLINIC_FHIR_TOKEN_CACHE_SECONDS = 0.0
# Tests page right after writing; the grace has its own test (test_fhir_edge_cases).
CLINIC_FHIR_PAGING_GRACE_SECONDS = 0.0
