"""Event subscriptions of encounters: the timeline."""

from __future__ import annotations

from clinic.contracts import Event
from clinic.facade import subscriber
from encounters import services, timeline
from encounters.contracts import ENCOUNTER_CHECKED_IN


@subscriber("encounters.timeline", events_=timeline.SUBSCRIBED)
def add_to_timeline(event: Event) -> None:
    """Append the event to the timeline of the encounters it belongs to; a check-in also brings
    the booking that led to it."""
    if event.type == ENCOUNTER_CHECKED_IN and event.encounter_id is not None:
        from encounters.models import Encounter

        encounter = Encounter.objects.filter(pk=event.encounter_id).first()
        if encounter is not None:
            for booked in timeline.booking_events(encounter):  # first: it happened first
                services.append_to_timeline(event=booked, only=encounter.pk)
    services.append_to_timeline(event=event)
