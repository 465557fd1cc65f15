"""Which encounter timelines an event belongs to, and how it reads there.

The same rules serve the live subscriber (``services.append_to_timeline``) and the rebuild
from the outbox (``services.rebuild_timeline``), so a rebuild comes out identical.

How an event reads is its producer's word: each event type's payload contract says it
(``EventPayload.timeline``), and the kernel's registry hands it over (``describe_event``), so
this module reads no payload keys. The types of orders, billing and results are named as
strings (those apps sit above this one); each must have a registered contract, which the
kernel checks at startup for every subscription.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import Q

from clinic.contracts import Event
from clinic.facade import decode_event, describe_event
from clinic.facade import events as outbox_events
from encounters.contracts import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    ENCOUNTER_CANCELLED,
    ENCOUNTER_CHECKED_IN,
    ENCOUNTER_FINISHED,
    ENCOUNTER_STARTED,
)
from encounters.models import Encounter
from identity.contracts import PatientMerged, PatientUnmerged

ENCOUNTER_MODEL = "encounters.Encounter"

# Events that carry the encounter they happened in.
ENCOUNTER_EVENTS = [
    ENCOUNTER_CHECKED_IN,
    ENCOUNTER_STARTED,
    ENCOUNTER_FINISHED,
    ENCOUNTER_CANCELLED,
    "order.placed",
    "order.cancelled",
    "charge.posted",
    "charge.reversed",
    "result.available",
    "result.corrected",
    "result.flagged",
    "result.unsolicited",
]
# Events about the patient, flagged on the encounters open when they happen.
PATIENT_EVENTS = ["patient.merged", "patient.unmerged"]
# The booking that led to a checked-in encounter.
BOOKING_EVENTS = [APPOINTMENT_BOOKED]

SUBSCRIBED = [*ENCOUNTER_EVENTS, *PATIENT_EVENTS, APPOINTMENT_BOOKED, APPOINTMENT_CANCELLED]


def encounters_for(event: Event) -> list[UUID]:
    if event.type in ENCOUNTER_EVENTS and event.encounter_id is not None:
        return [event.encounter_id]  # published with it by our own code: it exists, in this tenant
    if event.type in PATIENT_EVENTS:
        found = set(_listed(event))
        if event.patient_id is not None:
            found |= set(
                Encounter.objects.filter(
                    tenant_id=event.tenant_id, patient_id=event.patient_id, period_start__lte=event.occurred_at
                )
                .filter(Q(period_end__isnull=True) | Q(period_end__gte=event.occurred_at))
                .values_list("pk", flat=True)
            )
        return sorted(found, key=str)
    return []


def _listed(event: Event) -> list[UUID]:
    """Encounters a merge moved, or an unmerge moved back (its payload lists them)."""
    payload = decode_event(event)
    if isinstance(payload, PatientMerged):
        rows = payload.moved
    elif isinstance(payload, PatientUnmerged):
        rows = payload.returned
    else:
        return []
    return [UUID(row.id) for row in rows if row.model == ENCOUNTER_MODEL]


def patient_event_applies(event: Event, encounter: Encounter) -> bool:
    """The rule of ``encounters_for`` for patient events, for one encounter: it was moved by
    the event, or it belongs to the event's patient and was open when the event happened
    (whatever its status when the event is delivered: a late delivery lands the same)."""
    if encounter.pk in _listed(event):
        return True
    if event.patient_id != encounter.patient_id or encounter.period_start is None:
        return False
    return encounter.period_start <= event.occurred_at and (
        encounter.period_end is None or event.occurred_at <= encounter.period_end
    )


def booking_events(encounter: Encounter) -> list[Event]:
    if encounter.appointment_id is None:
        return []
    # By the stored JSON of our own contract (AppointmentBooked.appointment_id): the booking
    # may carry the patient record a merge has since replaced, so the patient cannot find it.
    return outbox_events(
        tenant_id=encounter.tenant_id,
        types=BOOKING_EVENTS,
        payload_equals={"appointment_id": str(encounter.appointment_id)},
    )


def events_of(encounter: Encounter) -> list[Event]:
    """Everything the timeline of ``encounter`` should hold, from the outbox, oldest first."""
    found = {e.id: e for e in booking_events(encounter)}
    for event in outbox_events(tenant_id=encounter.tenant_id, encounter_id=encounter.pk, types=ENCOUNTER_EVENTS):
        found[event.id] = event
    for event in outbox_events(tenant_id=encounter.tenant_id, types=PATIENT_EVENTS):
        if patient_event_applies(event, encounter):
            found[event.id] = event
    return sorted(found.values(), key=lambda e: (e.recorded_at, str(e.id)))


def describe(event: Event) -> tuple[str, str]:
    """(summary, reference) of an event as the timeline shows it, as its producer's contract
    says. No patient names or identifiers: IDs, codes and displays of what happened."""
    line = describe_event(event)
    return line.summary, line.reference
