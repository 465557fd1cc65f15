"""Public surface of interop. Interop is an edge, at the top of the layers with ``web``: no app
imports it (docs/architecture.md), so it offers no functions; what it does is reached over HL7 v2,
HTTP, the admin, commands and event subscriptions. The facade carries its exceptions."""

from __future__ import annotations

from interop.errors import BundleInvalid, LabPartnerExists, MLLPError

__all__ = ["BundleInvalid", "LabPartnerExists", "MLLPError"]
