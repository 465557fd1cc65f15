"""The exceptions of encounters (re-exported by ``encounters.facade``). No Django imports.

Each ``code`` is stable for integrators: it is the ``code`` of the problem document the REST API
answers with."""

from __future__ import annotations

from clinic.contracts import Conflict, InvalidInput, NotFound

__all__ = [
    "AlreadyInProgress",
    "AppointmentNotFound",
    "EncounterNotFound",
    "InvalidTransition",
    "SlotInThePast",
    "SlotNotFound",
    "SlotTaken",
    "VisitNumberTaken",
]


class SlotNotFound(NotFound):
    code = "slot-not-found"


class SlotTaken(Conflict):
    """Someone else booked the slot (or it is blocked); ``extra["next_free_slots"]`` offers the
    practitioner's next free ones."""

    code = "slot-taken"


class SlotInThePast(InvalidInput):
    code = "slot-in-the-past"


class AppointmentNotFound(NotFound):
    code = "appointment-not-found"


class EncounterNotFound(NotFound):
    code = "encounter-not-found"


class InvalidTransition(Conflict):
    """The appointment or encounter is not in a status this step may move it from."""

    code = "invalid-transition"


class AlreadyInProgress(Conflict):
    """The patient already has an encounter in progress at the site (``extra["active_encounter"]``)."""

    code = "encounter-already-in-progress"


class VisitNumberTaken(Conflict):
    """The visit number is another patient's encounter."""

    code = "visit-number-taken"
