"""The exceptions interop raises to its callers (commands, admin, tasks), re-exported by
``interop.facade``. No Django imports.

A message that intake refuses or cannot chart is not an exception to its caller: it is the ACK
(AR/AE with ERR segments) that ``interop.v2.intake.receive`` returns.
"""

from __future__ import annotations

from clinic.contracts import Conflict, InvalidInput


class LabPartnerExists(Conflict):
    """The tenant already has a lab partner of that name."""

    code = "lab-partner-exists"


class BundleInvalid(InvalidInput):
    """The file is not a Synthea bundle we can load (unreadable, not JSON, not a Bundle, or a
    resource in it is malformed)."""

    code = "synthea-bundle-invalid"


class MLLPError(Exception):
    """The peer could not be reached, or answered outside the protocol. Not a domain refusal
    (so not a ``DomainError``): the lab was down or misbehaved, and sending is retried."""
