"""gunicorn's settings for the request workers: ``gunicorn -c deploy/gunicorn.conf.py config.wsgi``
(``make web``, ``make run``, docker-compose.yml). The front (deploy/haproxy.cfg) sends them every
path but the streams. Why this shape, and its measurements: ADR 7.

Environment:
  CLINIC_WEB_BIND     where the workers listen (127.0.0.1:8001)
  CLINIC_WEB_WORKERS  worker processes (default: one per core)
  CLINIC_WEB_THREADS  threads per worker (default 1: the sync worker)
"""

import os

bind = os.environ.get("CLINIC_WEB_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("CLINIC_WEB_WORKERS") or os.cpu_count() or 2)
# One request at a time per worker process (gunicorn's sync worker), as the reference of ADR 7;
# CLINIC_WEB_THREADS > 1 gives each worker that many threads (gthread) instead.
threads = int(os.environ.get("CLINIC_WEB_THREADS", 1))
worker_class = "gthread" if threads > 1 else "sync"
# (gthread only) Longer than the front keeps an idle connection open, so the front closes first.
keepalive = 75
# Import Django once, then fork the workers: they start in a fraction of the time. Nothing opens a
# connection at import (the settings only read the environment).
preload_app = True
graceful_timeout = 10
# No control socket: its default path is one per user, which several servers on a machine (tests,
# benchmarks, checkouts) would share.
control_socket_disable = True
errorlog = "-"
loglevel = os.environ.get("CLINIC_WEB_LOG_LEVEL", "info")

# A request refused before its body was read (413 over CLINIC_MAX_REQUEST_BODY_BYTES) leaves the rest
# of the body unread. Read it (up to 64 MiB, for up to 10 s) before the connection closes:
# otherwise the front, still sending it, fails and never reads the answer.
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 10.0


def post_request(worker, req, environ, resp):  # type: ignore[no-untyped-def]
    import time

    body = getattr(req, "body", None)
    if body is None:
        return
    left, deadline = DRAIN_BYTES, time.monotonic() + DRAIN_SECONDS
    try:
        while left > 0 and time.monotonic() < deadline:
            chunk = body.read(min(64 * 1024, left))
            if not chunk:
                return
            left -= len(chunk)
    except Exception:  # noqa: S110 - the client went away: nothing left to drain
        pass
