"""Public functions of billing (plain data in and out)."""

from __future__ import annotations

from datetime import date
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
    """Reverse the live charges of ``source`` (e.g. ``order:<uuid>``) in the caller's
    transaction; reversing twice is a no-op (returns nothing the second time)."""
    return [selectors.charge_record(c) for c in services.reverse_charges(tenant_id=tenant_id, source=source)]


def charges_of_encounter(*, tenant_id: int, encounter_id: UUID) -> list[ChargeRecord]:
    """Every charge of the encounter, billed and reversed, oldest first."""
    return selectors.charges_of_encounter(tenant_id=tenant_id, encounter_id=encounter_id)


# Rows of this app's read views (selectors.READ_VIEWS) for edges that read in bulk (the FHIR
# API): ``read_rows(view=..., query=clinic.rows.RowQuery(...))`` and ``count_rows``.
_published = Publisher(selectors.READ_VIEWS)
read_rows = _published.read_rows
count_rows = _published.count_rows
