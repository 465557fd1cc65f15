"""Reads of interop."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from encounters.facade import timeline_pushes
from interop.models import InboundMessage


def trace(
    *, tenant_id: int, accession: str = "", control_id: str = "", placer_number: str = ""
) -> list[dict[str, Any]]:
    """The messages of the tenant that carried this accession, control ID or placer number,
    oldest first, each with its ACK, events, held row, timeline entries and four timestamps."""
    qs = InboundMessage.objects.filter(tenant_id=tenant_id)
    if accession:
        qs = qs.filter(accessions__contains=[accession])
    elif control_id:
        qs = qs.filter(control_id=control_id)
    else:
        qs = qs.filter(placer_numbers__contains=[placer_number])
    # The newest hundred (a missing-result ticket is about the latest), shown oldest first.
    rows = list(reversed(qs.order_by("-received_at", "-id").defer("raw")[:100]))
    event_ids = [UUID(str(e)) for m in rows for e in m.event_ids]
    pushes = timeline_pushes(tenant_id=tenant_id, event_ids=event_ids) if event_ids else []
    out = []
    for m in rows:
        events = {str(e) for e in m.event_ids}
        mine = [p for p in pushes if p["event"] in events]
        pushed = [p["pushed_at"] for p in mine if p["pushed_at"]]
        # Pushed once every event of the message is on its timeline and every entry was pushed.
        complete = events <= {p["event"] for p in mine} and len(pushed) == len(mine)
        out.append(
            {
                "id": m.pk,
                "control_id": m.control_id,
                "type": m.message_type,
                "transport": m.transport,
                "sender": {"application": m.sending_application, "facility": m.sending_facility},
                "status": m.status,
                "ack": {"code": m.ack_code, "text": m.ack_text, "control_id": m.ack_control_id},
                "errors": m.errors,
                "accessions": m.accessions,
                "placer_numbers": m.placer_numbers,
                "duplicate_of": m.duplicate_of_id,
                "held": str(m.held_id) if m.held_id else None,
                "events": [str(e) for e in m.event_ids],
                "produced": m.produced,
                "timeline": mine,
                "received_at": m.received_at.isoformat(),
                "committed_at": m.committed_at.isoformat() if m.committed_at else None,
                "acknowledged_at": m.acknowledged_at.isoformat() if m.acknowledged_at else None,
                "pushed_at": max(pushed) if pushed and complete else None,
            }
        )
    return out
