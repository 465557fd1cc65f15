"""The fee schedule: a price per fee code from a date until a date."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from billing import selectors, services
from billing.models import FeeScheduleEntry
from tests.billing.factories import FeeScheduleEntryFactory
from tests.clinic.factories import TenantFactory

pytestmark = pytest.mark.django_db

JAN, JUL = datetime.date(2024, 1, 1), datetime.date(2024, 7, 1)


def test_the_price_on_a_date_is_the_latest_one_that_started_by_then():
    old = FeeScheduleEntryFactory(code="T-1", price=Decimal("10.00"), valid_from=JAN)
    new = FeeScheduleEntryFactory(tenant=old.tenant, code="T-1", price=Decimal("12.00"), valid_from=JUL)

    def price(on):
        return selectors.price_on(tenant_id=old.tenant_id, code="T-1", on=on)

    assert price(datetime.date(2023, 12, 31)) is None
    assert price(JAN) == old
    assert price(JUL - datetime.timedelta(days=1)) == old
    assert price(JUL) == new


def test_a_price_ends_the_day_before_its_valid_to():
    fee = FeeScheduleEntryFactory(code="T-1", valid_from=JAN, valid_to=JUL)

    assert selectors.price_on(tenant_id=fee.tenant_id, code="T-1", on=JUL - datetime.timedelta(days=1)) == fee
    assert selectors.price_on(tenant_id=fee.tenant_id, code="T-1", on=JUL) is None


def test_another_tenants_price_is_not_ours():
    fee = FeeScheduleEntryFactory(code="T-1", valid_from=JAN)

    assert selectors.price_on(tenant_id=TenantFactory().pk, code="T-1", on=JUL) is None
    assert selectors.price_on(tenant_id=fee.tenant_id, code="T-1", on=JUL) == fee


def test_setting_a_fee_again_for_the_same_date_updates_it():
    tenant = TenantFactory()

    def set_fee(price):
        return services.set_fee(
            tenant_id=tenant.pk, code="T-1", display="Test", price=Decimal(price), currency="GBP", valid_from=JAN
        )

    first, again = set_fee("10.00"), set_fee("11.50")

    assert first.pk == again.pk
    assert FeeScheduleEntry.objects.get().price == Decimal("11.50")


def test_a_negative_price_is_refused_by_the_database():
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        FeeScheduleEntryFactory(price=Decimal("-1.00"))


def test_the_fee_schedule_has_its_plural_name():
    assert FeeScheduleEntry._meta.verbose_name_plural == "fee schedule entries"
