"""Payload contracts of the probe's events, registered as any producer registers its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from clinic.contracts import EventPayload, TimelineLine, described


@dataclass(frozen=True, slots=True)
class ProbeHappened(EventPayload):
    event_type: ClassVar[str] = "probe.happened"

    n: int = described("a number the test chose", default=0)
    order: UUID | None = described("an order the test names", default=None)

    def timeline(self) -> TimelineLine:
        return TimelineLine(summary=f"Probe {self.n}", reference=f"probe:{self.order or ''}")


@dataclass(frozen=True, slots=True)
class ProbeFlaky(EventPayload):
    event_type: ClassVar[str] = "probe.flaky"

    fail_times: int = described("how many deliveries of it fail before one succeeds", default=0)


@dataclass(frozen=True, slots=True)
class ProbeSlow(EventPayload):
    event_type: ClassVar[str] = "probe.slow"

    sleep: float = described("seconds its subscriber takes", default=0.3)


PROBE_EVENTS = (ProbeHappened, ProbeFlaky, ProbeSlow)
