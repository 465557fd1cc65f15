"""The exceptions results raises (public: re-exported by ``results.facade``). No Django imports."""

from __future__ import annotations

from clinic.contracts import InvalidInput, NotFound


class HeldResultNotFound(NotFound):
    """No held result with this ID in this tenant."""

    code = "held-result-not-found"


class HeldResultClosed(InvalidInput):
    """The held result was charted already (released automatically or filed by an admin)."""

    code = "held-result-closed"


class ResultUnresolved(InvalidInput):
    """The patient or an order of the result cannot be resolved (when holding it is not an
    option: an admin filing it, or ``record_result(hold=False)``). Its one problem names the
    hold reason (``results.contracts.HoldReason``) and says why."""


__all__ = ["HeldResultClosed", "HeldResultNotFound", "ResultUnresolved"]
