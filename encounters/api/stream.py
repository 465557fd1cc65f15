"""The encounter's timeline as a live stream: ``GET /api/encounters/{id}/stream`` (server-sent
events), served by the stream server (``config/streams.py``, ADR 7), not by the request workers.

Any principal of the encounter's tenant holding ``api:read`` may watch it (another tenant's
encounter answers 404, as a missing one). Entries after ``Last-Event-ID`` (header, or
``?last_event_id=``) come first from the database, then new ones as they are pushed through
Redis pub/sub (``encounters.live``). The SSE ``id`` of each event is the entry's position in the
timeline (``seq``, which is also the order entries commit in), so a client that reconnects
resumes where it left off, with no gap and no repeat.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from uuid import UUID

from clinic.contracts import Principal, Scope
from clinic.streams import Entry, Feed, StreamKind
from encounters import live, selectors


def _backlog(tenant_id: int, encounter_id: UUID, after: int) -> list[Entry]:
    entries = selectors.timeline_after(tenant_id=tenant_id, encounter_id=encounter_id, after_seq=after)
    return [(entry.seq, json.dumps(selectors.timeline_json(entry))) for entry in entries]


def _open(principal: Principal, params: dict[str, Any]) -> Feed:
    """Raises EncounterNotFound (also for another tenant's encounter)."""
    encounter_id: UUID = params["encounter_id"]
    selectors.get_encounter_row(tenant_id=principal.tenant.id, encounter_id=encounter_id)
    return Feed(channel=live.channel(encounter_id), backlog=partial(_backlog, principal.tenant.id, encounter_id))


TIMELINE = StreamKind(name="encounter-timeline", event="timeline", scope=Scope.API_READ, open=_open)
