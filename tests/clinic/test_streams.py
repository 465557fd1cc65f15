"""The stream server's own behaviour (clinic.streams), served in a thread of this process so that
a test can change its settings and cut its Redis: lifetimes, lost Redis, missed pushes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from django.conf import settings as django_settings

from clinic.streams import Route
from clinic.streams.server import StreamServer
from encounters import live
from tests.clinic.factories import api_token
from tests.encounters.factories import EncounterFactory, TimelineEntryFactory
from tests.support.proxy import TcpProxy
from tests.support.sse import open_stream
from tests.support.stack import free_port


@pytest.fixture
def stream_server(transactional_db: None, broker_up: TcpProxy) -> Iterator[str]:
    """A StreamServer with config.streams' routes, served by uvicorn in a thread; its base URL."""
    from config.streams import routes

    app = StreamServer(routes, redis_url=django_settings.CLINIC_LIVE_REDIS_URL, db_threads=2)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def watched():
    encounter = EncounterFactory()
    TimelineEntryFactory(encounter=encounter, seq=1)
    return encounter, {"Authorization": f"Bearer {api_token(encounter.tenant)}"}


def test_a_stream_ends_after_its_lifetime_and_the_client_resumes_where_it_was(stream_server, watched, settings):
    settings.CLINIC_STREAM_MAX_SECONDS = 1.0
    encounter, auth = watched
    url = f"{stream_server}/api/encounters/{encounter.pk}/stream"

    first = open_stream(url, auth).read(timeout=5)
    TimelineEntryFactory(encounter=encounter, seq=2)
    resumed = open_stream(url, {**auth, "Last-Event-ID": str(first.events[-1]["id"])}).read(until=1, timeout=5)
    resumed.close()

    assert first.closed
    assert [e["id"] for e in first.events] == [1]
    assert any(c.startswith("lifetime over") for c in first.comments)
    assert [e["id"] for e in resumed.events] == [2]


def test_a_push_that_skips_positions_comes_after_the_entries_it_skipped(stream_server, watched):
    encounter, auth = watched
    stream = open_stream(f"{stream_server}/api/encounters/{encounter.pk}/stream", auth).read(until=1)
    TimelineEntryFactory(encounter=encounter, seq=2, summary="committed, its push overtaken")
    TimelineEntryFactory(encounter=encounter, seq=3)

    live.push(encounter.pk, {"id": 3, "seq": 3, "summary": "pushed first"})
    stream.read(until=3)
    stream.close()

    assert [e["id"] for e in stream.events] == [1, 2, 3]
    assert stream.events[1]["data"]["summary"] == "committed, its push overtaken"


def test_streams_end_when_redis_goes_and_are_refused_503_until_it_is_back(stream_server, watched, broker_up):
    encounter, auth = watched
    url = f"{stream_server}/api/encounters/{encounter.pk}/stream"
    open_before = open_stream(url, auth).read(until=1)

    broker_up.down()
    open_before.read(timeout=5)
    refused = httpx.get(url, headers=auth, timeout=10)
    broker_up.up()
    after = open_stream(url, auth).read(until=1)
    after.close()

    assert open_before.closed  # the client reconnects with Last-Event-ID and reads what it missed
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert refused.headers["content-type"] == "application/problem+json"
    assert after.status == 200 and [e["id"] for e in after.events] == [1]


def test_a_stream_path_has_no_leading_slash_and_ends_in_stream():
    from encounters.api.stream import TIMELINE

    with pytest.raises(ValueError, match="ends in /stream"):
        Route("api/encounters/<uuid:encounter_id>/live", TIMELINE)
    with pytest.raises(ValueError, match="no leading slash"):
        Route("/api/encounters/<uuid:encounter_id>/stream", TIMELINE)
