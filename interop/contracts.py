"""Public plain data of interop. No Django imports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LabPartnerRef:
    id: int
    tenant_id: int
    name: str
    application: str  # MSH-3 when they send, MSH-5 when we send to them
    facility: str  # MSH-4 when they send, MSH-6 when we send to them
    mllp_host: str
    mllp_port: int | None
