"""Public functions of billing (plain data in and out)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from billing import selectors, services
from billing.contracts import ChargeRecord
from billing.errors import AlreadyCharged, NoFeeForCode, UnmappedBillingCode
from clinic.rows import Publisher

__all__ = [
    "AlreadyCharged",
    "NoFeeForCode",
    "UnmappedBillingCode",
    "charges_of_encounter",
    "count_rows",
    "post_charge",
    "read_rows",
    "reverse_charges",
    "seed_demo_fees",
]


def post_charge(
    *,
    tenant_id: int,
    patient_id: UUID,
    encounter_id: UUID,
    catalogue_system: str,
    catalogue_code: str,
    on: date,
    source: str,
) -> ChargeRecord:
    """Bill a catalogue item in the caller's transaction (see ``billing.services.post_charge``).
    Raises UnmappedBillingCode (no billing code), NoFeeForCode (no price), AlreadyCharged."""
    charge = services.post_charge(
        tenant_id=tenant_id,
        patient_id=patient_id,
        encounter_id=encounter_id,
        catalogue_system=catalogue_system,
        catalogue_code=catalogue_code,
        on=on,
        source=source,
    )
    return selectors.charge_record(charge)


def reverse_charges(*, tenant_id: int, source: str) -> list[ChargeRecord]:
    return [selectors.charge_record(c) for c in services.reverse_charges(tenant_id=tenant_id, source=source)]


def charges_of_encounter(*, tenant_id: int, encounter_id: UUID) -> list[ChargeRecord]:
    return selectors.charges_of_encounter(tenant_id=tenant_id, encounter_id=encounter_id)


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


def seed_demo_fees(*, tenant_id: int) -> int:
    """The demo fee schedule (prices from 2020-01-01, in GBP); idempotent."""
    for code, display, price in DEMO_FEES:
        services.set_fee(
            tenant_id=tenant_id,
            code=code,
            display=display,
            price=Decimal(price),
            currency="GBP",
            valid_from=date(2020, 1, 1),
        )
    return len(DEMO_FEES)


# Rows of this app's read views (selectors.READ_VIEWS) for edges that read in bulk (the FHIR
# API): ``read_rows(view=..., query=clinic.rows.RowQuery(...))`` and ``count_rows``.
_published = Publisher(selectors.READ_VIEWS)
read_rows = _published.read_rows
count_rows = _published.count_rows
