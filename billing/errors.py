"""The exceptions of billing (re-exported by ``billing.facade``). No Django imports.

Each ``code`` is stable for integrators: it is the ``code`` of the problem document the REST API
answers with (a refused order carries billing's reason)."""

from __future__ import annotations

from clinic.contracts import Conflict, InvalidInput

__all__ = ["AlreadyCharged", "NoFeeForCode", "UnmappedBillingCode"]


class UnmappedBillingCode(InvalidInput):
    """The catalogue code has no fee code on that date: the clinical step is refused rather
    than left unbilled."""

    code = "unmapped-billing-code"


class NoFeeForCode(InvalidInput):
    """The fee code has no price in the fee schedule on that date."""

    code = "no-fee-for-code"


class AlreadyCharged(Conflict):
    """The source (e.g. ``order:<uuid>``) already has a live charge."""

    code = "already-charged"
