"""Billing writes: post and reverse charges, inside the caller's clinical transaction (an order
placed or cancelled): ``atomic(savepoint=False)`` joins it, or opens one when there is none.

Events: ``charge.posted`` / ``charge.reversed`` (with the encounter), payloads
``billing.contracts.ChargePosted`` / ``ChargeReversed``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import selectors
from billing.contracts import ChargeEvent, ChargePosted, ChargeReversed
from billing.errors import AlreadyCharged, NoFeeForCode, UnmappedBillingCode
from billing.models import ChargeItem, FeeScheduleEntry
from clinic.contracts import FieldProblem
from clinic.facade import get_tenant, publish
from terminology.contracts import fee_code_system
from terminology.facade import translate


def post_charge(
    *,
    tenant_id: int,
    patient_id: UUID,
    encounter_id: UUID,
    catalogue_system: str,
    catalogue_code: str,
    on: date,
    source: str,
    quantity: int = 1,
) -> ChargeItem:
    """Bill a catalogue item: translated to its fee code as of ``on`` (terminology), priced from
    the fee schedule on that date, and published as ``charge.posted``. Runs in the caller's
    transaction (or one of its own). Raises UnmappedBillingCode, NoFeeForCode, AlreadyCharged (this source is
    billed already)."""
    tenant = get_tenant(tenant_id=tenant_id)
    translation = translate(
        tenant_id=tenant_id,
        system=catalogue_system,
        code=catalogue_code,
        target_system=fee_code_system(tenant.slug),
        as_of=on,
    )
    if translation is None:
        raise UnmappedBillingCode(
            f"{catalogue_code} has no billing code on {on.isoformat()}: map it before ordering it.",
            [FieldProblem("codes", f"{catalogue_code}: no billing code")],
        )
    fee = selectors.price_on(tenant_id=tenant_id, code=translation.target.code, on=on)
    if fee is None:
        raise NoFeeForCode(
            f"Billing code {translation.target.code} (for {catalogue_code}) has no price on {on.isoformat()}.",
            [FieldProblem("codes", f"{catalogue_code}: no price for {translation.target.code}")],
        )
    with transaction.atomic(savepoint=False):
        try:
            with transaction.atomic():
                charge = ChargeItem.objects.create(
                    tenant_id=tenant_id,
                    patient_id=patient_id,
                    encounter_id=encounter_id,
                    code=fee.code,
                    display=fee.display or translation.target.display,
                    quantity=quantity,
                    unit_price=fee.price,
                    currency=fee.currency,
                    source=source,
                    coded={
                        "catalogue": {"system": catalogue_system, "code": catalogue_code},
                        "fee": {"system": translation.target.system, "code": translation.target.code},
                        "map": {"name": translation.map_version.map_name, "version": translation.map_version.version},
                        "as_of": on.isoformat(),
                    },
                    occurred_at=timezone.now(),
                )
        except IntegrityError as exc:
            raise AlreadyCharged(f"{source} is already charged.") from exc
        _publish(ChargePosted, charge)
    return charge


def reverse_charges(*, tenant_id: int, source: str) -> list[ChargeItem]:
    """Reverse the live charge(s) of a source (cancelled order). Runs in the caller's transaction
    (or one of its own); reversing twice is a no-op."""
    with transaction.atomic(savepoint=False):
        charges = list(
            ChargeItem.objects.select_for_update().filter(tenant_id=tenant_id, source=source, status="billed")
        )
        now = timezone.now()
        for charge in charges:
            charge.status = ChargeItem.Status.REVERSED
            charge.reversed_at = now
            charge.save(update_fields=["status", "reversed_at", "updated_at"])
            _publish(ChargeReversed, charge)
    return charges


def _publish(contract: type[ChargeEvent], charge: ChargeItem) -> None:
    publish(
        payload=contract(
            charge_id=charge.pk,
            code=charge.code,
            display=charge.display,
            amount=Decimal(charge.unit_price) * charge.quantity,
            currency=charge.currency,
            source=charge.source,
        ),
        tenant_id=charge.tenant_id,
        patient_id=charge.patient_id,
        encounter_id=charge.encounter_id,
    )


def set_fee(
    *, tenant_id: int, code: str, display: str, price: Decimal, currency: str, valid_from: date
) -> FeeScheduleEntry:
    """Add (or update) a price from a date (idempotent for the same date)."""
    fee, _ = FeeScheduleEntry.objects.update_or_create(
        tenant_id=tenant_id,
        code=code,
        valid_from=valid_from,
        defaults={"display": display, "price": price, "currency": currency},
    )
    return fee
