"""The demo tenant's lab partner (interop's step of ``seed_demo``, see ``clinic.demo``)."""

from __future__ import annotations

from clinic.facade import demo_step
from interop import services
from interop.models import LabPartner

DEMO_LAB_PORT = 2576


@demo_step("interop.lab_partner", order=90)
def seed(*, tenant_id: int) -> list[str]:
    """A lab partner, Demo Lab, that orders go to over MLLP; in the caller's transaction.
    Idempotent."""
    if not LabPartner.objects.filter(tenant_id=tenant_id, name="Demo Lab").exists():
        services.create_lab_partner(
            tenant_id=tenant_id,
            name="Demo Lab",
            facility="DEMOLAB",
            application="LAB",
            mllp_host="127.0.0.1",
            mllp_port=DEMO_LAB_PORT,
        )
    return [f"lab partner Demo Lab (orders to MLLP 127.0.0.1:{DEMO_LAB_PORT})"]
