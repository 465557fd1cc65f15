"""Probe subscribers. Their effect is a ProbeEffect row written in the delivery transaction."""

from __future__ import annotations

import time

from clinic.contracts import Event
from clinic.facade import payload_of, subscriber
from clinic.models import EventDelivery
from tests.probe.contracts import ProbeFlaky, ProbeSlow
from tests.probe.models import ProbeEffect


class ProbeFailure(Exception):
    pass


@subscriber("probe.recorder", events_=["probe.happened", "probe.flaky", "probe.slow"])
def record(event: Event) -> None:
    ProbeEffect.objects.create(event_id=event.id, subscriber="probe.recorder")


@subscriber("probe.flaky", events_=["probe.flaky"])
def flaky(event: Event) -> None:
    """Fails on its first ``fail_times`` attempts for an event, then succeeds."""
    previous_attempts = (
        EventDelivery.objects.filter(event_id=event.id, subscriber="probe.flaky")
        .values_list("attempts", flat=True)
        .first()
    ) or 0
    if previous_attempts < payload_of(event, ProbeFlaky).fail_times:
        raise ProbeFailure(f"planned failure {previous_attempts + 1}")
    ProbeEffect.objects.create(event_id=event.id, subscriber="probe.flaky")


@subscriber("probe.slow", events_=["probe.slow"])
def slow(event: Event) -> None:
    time.sleep(payload_of(event, ProbeSlow).sleep)
    ProbeEffect.objects.create(event_id=event.id, subscriber="probe.slow")
