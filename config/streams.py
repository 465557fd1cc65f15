"""The stream server's entry point (``uvicorn config.streams:application``) and its routes.

Every path here ends in ``/stream``: the front (``deploy/haproxy.cfg``) sends those paths to this
server and everything else to the request workers (``config.wsgi``), on one origin, so pages and
their streams share cookies. A route names its kind by dotted path, as ``config/urls.py`` includes
an app's URLs (apps are reached through their public modules only).
"""

from __future__ import annotations

import os

import django
from django.conf import settings

if not settings.configured:  # the stream server's own process (not a test or a shell importing routes)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # The database reads of streams check a connection out of a small pool and give it back at once.
    os.environ.setdefault("CLINIC_DB_POOL_MAX", "4")
    django.setup()

from clinic.streams import stream
from clinic.streams.server import StreamServer

routes = [
    stream("api/encounters/<uuid:encounter_id>/stream", "encounters.api.stream.TIMELINE"),
]

application = StreamServer(
    routes,
    redis_url=settings.CLINIC_LIVE_REDIS_URL,
    # One thread per pooled connection: the most database reads the server runs at once.
    db_threads=max(1, settings.CLINIC_DB_POOL_MAX or 4),
)
