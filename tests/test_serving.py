"""The serving shape (ADR 7), through the served stack as ``make run`` runs it: the front
(HAProxy) on one origin, the request workers (gunicorn) and the stream server (uvicorn) behind it,
each a real process."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from clinic.models import ApiClient
from encounters import live
from tests.clinic.factories import MembershipFactory, api_token
from tests.conftest import STACK_RECHECK_SECONDS
from tests.encounters.factories import EncounterFactory, TimelineEntryFactory
from tests.support.sse import SSEStream, open_stream
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]


def _entry(encounter, seq: int) -> dict[str, object]:
    return {"id": seq, "seq": seq, "type": "encounter.started", "summary": f"entry {seq}"}


def _django_routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> list[str]:
    routes = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += _django_routes(pattern.url_patterns, route)
        else:
            routes.append(route)
    return routes


def test_stream_paths_end_in_stream_and_no_request_path_does():
    from config.streams import routes

    config = (ROOT / "deploy" / "haproxy.cfg").read_text()

    assert routes and all(r.route.endswith("/stream") for r in routes)
    assert "acl is_stream path_end /stream" in config  # the front's rule sends exactly those away
    assert [r for r in _django_routes(get_resolver().url_patterns) if r.rstrip("$").endswith("stream")] == []


def test_the_front_sends_streams_to_the_stream_server_and_everything_else_to_the_workers(front_url):
    stream = httpx.get(f"{front_url}/api/nothing/stream")
    request = httpx.get(f"{front_url}/api/nothing")

    assert stream.status_code == 404 and stream.json()["detail"] == "No stream at /api/nothing/stream."
    assert request.status_code == 404 and request.json()["code"] == "no-such-endpoint"
    assert "No API endpoint" in request.json()["detail"]


def test_the_api_fhir_and_healthz_answer_while_more_streams_are_open_than_connections_exist(front_url, served_stack):
    encounter = EncounterFactory()
    TimelineEntryFactory(encounter=encounter, seq=1)
    token = api_token(encounter.tenant, scopes=["api:read", "system/*.read"])
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{front_url}/api/encounters/{encounter.pk}/stream"
    count = 40  # the stream server pools 4 connections; the ASGI web server had 16 for everything

    with ThreadPoolExecutor(8) as pool:
        streams: list[SSEStream] = list(pool.map(lambda _: open_stream(url, auth), range(count)))
    try:
        for stream in streams:
            stream.read(until=1)  # its backlog: it was authorised and read from the database
        started = time.monotonic()
        with httpx.Client(base_url=front_url, headers=auth, timeout=10) as http:
            answers = [
                http.get("/healthz"),
                http.get(f"/api/patients/{encounter.patient_id}"),
                http.get(f"/fhir/Patient/{encounter.patient_id}"),
                http.get(f"/api/encounters/{encounter.pk}/timeline"),
            ]
        answered_in = time.monotonic() - started
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT state FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'clinic-stream'"
            )
            stream_sessions = [state for (state,) in cursor.fetchall()]
        live.push(encounter.pk, _entry(encounter, 2))
        for stream in streams:
            stream.read(until=2)
    finally:
        for stream in streams:
            stream.close()

    assert [s.status for s in streams] == [200] * count
    assert [a.status_code for a in answers] == [200] * 4
    assert answered_in < 5
    assert len(stream_sessions) <= 4 and set(stream_sessions) <= {"idle"}  # none held by a waiting stream
    assert all([e["id"] for e in s.events] == [1, 2] for s in streams)


def test_one_redis_subscription_serves_every_stream_of_a_channel_in_a_process(front_url):
    encounter = EncounterFactory()
    token = api_token(encounter.tenant)
    url = f"{front_url}/api/encounters/{encounter.pk}/stream"
    channel = live.channel(encounter.pk)
    direct = redis.Redis.from_url(settings.REDIS_URL)

    def subscribers() -> int:
        ((_name, count),) = direct.pubsub_numsub(channel)  # type: ignore[misc]
        return int(count)

    streams = [open_stream(url, {"Authorization": f"Bearer {token}"}).read(comment="connected") for _ in range(5)]
    while_open = subscribers()
    for stream in streams:
        stream.close()

    assert while_open == 1
    wait_for(lambda: subscribers() == 0, timeout=10, what="the last stream's channel to be unsubscribed")


def test_a_revoked_clients_open_stream_ends_within_the_recheck_window(front_url):
    encounter = EncounterFactory()
    token = api_token(encounter.tenant, name="watcher")
    url = f"{front_url}/api/encounters/{encounter.pk}/stream"
    stream = open_stream(url, {"Authorization": f"Bearer {token}"}).read(comment="connected")
    assert stream.status == 200

    ApiClient.objects.filter(name="watcher").update(is_active=False)
    revoked_at = time.monotonic()
    stream.read(until=1, timeout=STACK_RECHECK_SECONDS + 5)
    ended_in = time.monotonic() - revoked_at
    ended = stream.read(timeout=2).closed  # the response ends after the event
    stream.close()
    again = httpx.get(url, headers={"Authorization": f"Bearer {token}"})

    assert [e["event"] for e in stream.events] == ["revoked"]
    assert stream.events[0]["data"] == {"reason": "credentials no longer valid"}
    assert ended
    assert ended_in < STACK_RECHECK_SECONDS + 2
    assert again.status_code == 401


def test_a_page_reaches_its_stream_with_the_session_cookie_until_the_user_logs_out(front_url):
    membership = MembershipFactory()
    encounter = EncounterFactory(tenant=membership.tenant)
    TimelineEntryFactory(encounter=encounter, seq=1)
    browser = Client()
    browser.force_login(membership.user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    url = f"{front_url}/api/encounters/{encounter.pk}/stream"

    stream = open_stream(url, {"Cookie": cookie}).read(until=1)
    browser.logout()  # the session is deleted
    stream.read(until=2, timeout=STACK_RECHECK_SECONDS + 5)
    stream.close()
    anonymous = httpx.get(url)

    assert stream.status == 200
    assert [e.get("event") for e in stream.events] == ["timeline", "revoked"]
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("path", ["/api/sites", "/fhir/Patient", "/hl7/v2"])
def test_a_body_over_the_limit_is_refused_413_through_the_front_chunked_or_not(front_url, path):
    limit = settings.CLINIC_HL7_HTTP_MAX_BODY_BYTES if path == "/hl7/v2" else settings.CLINIC_MAX_REQUEST_BODY_BYTES
    piece = b"x" * (256 * 1024)

    def chunks():  # no Content-Length: chunked transfer encoding
        for _ in range(limit // len(piece) + 2):
            yield piece

    with httpx.Client(base_url=front_url, timeout=60) as http:
        chunked = http.post(path, content=chunks(), headers={"Content-Type": "application/json"})
        sized = http.post(path, content=b"".join(chunks()), headers={"Content-Type": "application/json"})

    for response in (chunked, sized):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "body-too-large"
