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
