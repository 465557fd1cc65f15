"""Billing reads."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from django.db.models import Q

from billing.contracts import ChargeRecord
from billing.models import ChargeItem, FeeScheduleEntry
from clinic.rows import ReadView


def price_on(*, tenant_id: int, code: str, on: date) -> FeeScheduleEntry | None:
    """The fee schedule entry that prices ``code`` on that date, or None."""
    return (
        FeeScheduleEntry.objects.filter(tenant_id=tenant_id, code=code, valid_from__lte=on)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=on))
        .order_by("-valid_from")
        .first()
    )


def charge_record(charge: ChargeItem) -> ChargeRecord:
    return ChargeRecord(
        id=charge.pk,
        patient_id=charge.patient_id,
        encounter_id=charge.encounter_id,
        code=charge.code,
        display=charge.display,
        quantity=charge.quantity,
        unit_price=charge.unit_price,
        currency=charge.currency,
        status=charge.status,
        source=charge.source,
        fee_map_version=(charge.coded.get("map") or {}).get("version", ""),
        occurred_at=charge.occurred_at,
        reversed_at=charge.reversed_at,
    )


def charges_of_encounter(*, tenant_id: int, encounter_id: UUID) -> list[ChargeRecord]:
    return [charge_record(c) for c in ChargeItem.objects.filter(tenant_id=tenant_id, encounter_id=encounter_id)]


# --- Read views (clinic.rows): the FHIR API's ChargeItem --------------------------------------

READ_VIEWS = {
    "charge_item": ReadView(
        model=ChargeItem,
        fields={
            "id": "id",
            "patient": "patient_id",
            "encounter": "encounter_id",
            "code": "code",
            "display": "display",
            "quantity": "quantity",
            "unit_price": "unit_price",
            "currency": "currency",
            "status": "status",
            "source": "source",
            "coded": "coded",
            "occurred_at": "occurred_at",
            "reversed_at": "reversed_at",
            "created_at": "created_at",
            "updated_at": "updated_at",
        },
    ),
}
