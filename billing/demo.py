"""The demo tenant's fee schedule (billing's step of ``seed_demo``, see ``clinic.demo``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing import services
from clinic.facade import demo_step

DEMO_FEES = [
    ("LAB-HAEM-01", "Haematology panel", "12.50"),
    ("LAB-HAEM-02", "Haematology panel with differential", "16.00"),
    ("LAB-HAEM-03", "Differential count", "8.00"),
    ("LAB-CHEM-01", "Single analyte chemistry", "6.50"),
    ("LAB-CHEM-02", "Renal panel", "14.00"),
    ("LAB-CHEM-03", "HbA1c", "11.00"),
    ("LAB-CHEM-04", "Lipid panel", "15.00"),
    ("LAB-CHEM-05", "Liver panel", "15.50"),
    ("LAB-ENDO-01", "Thyroid function", "13.00"),
]


@demo_step("billing.fees", order=50)
def seed(*, tenant_id: int) -> list[str]:
    """The demo fee schedule (prices from 2020-01-01, in GBP), in the caller's transaction (or
    one of its own); idempotent."""
    for code, display, price in DEMO_FEES:
        services.set_fee(
            tenant_id=tenant_id,
            code=code,
            display=display,
            price=Decimal(price),
            currency="GBP",
            valid_from=date(2020, 1, 1),
        )
    return [f"{len(DEMO_FEES)} fee schedule entries"]
