"""The exceptions interop raises to its callers (its commands, admin and tasks). No Django imports.

Interop is an edge at the top of the layers, with ``web``: no app may import it, so it has no
facade to re-export these (a facade nobody can call would be a stub); it is reached over HL7 v2,
HTTP, the admin, commands and event subscriptions.

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
