"""Event subscriptions of encounters: the timeline."""

from __future__ import annotations

from clinic.contracts import Event
from clinic.facade import subscriber
from encounters import services, timeline


@subscriber("encounters.timeline", events_=timeline.SUBSCRIBED)
def add_to_timeline(event: Event) -> None:
    """Append the event to the timeline of the encounters it belongs to (with, for a check-in,
    the booking that led to it)."""
    services.add_to_timeline(event=event)
