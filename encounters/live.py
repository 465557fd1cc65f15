"""Live timeline updates: Redis pub/sub, one channel per encounter.

Publishing happens after the timeline entry commits; a push that fails (Redis down) is only
logged: viewers catch up from the database when they reconnect with ``Last-Event-ID``.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from uuid import UUID

import redis
from django.conf import settings

logger = logging.getLogger("encounters.live")

_client: redis.Redis | None = None


def channel(encounter_id: UUID | str) -> str:
    return f"{settings.CLINIC_QUEUE_PREFIX}timeline:{encounter_id}"


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.CLINIC_LIVE_REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    return _client


def push(encounter_id: UUID, entry: dict[str, Any]) -> bool:
    """Publish a committed entry to the encounter's viewers; False (logged) when Redis is down."""
    try:
        _redis().publish(channel(encounter_id), json.dumps(entry))
    except redis.RedisError as exc:
        logger.warning("timeline.push_failed encounter=%s error=%s", encounter_id, type(exc).__name__)
        return False
    return True
