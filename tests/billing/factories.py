"""Factories of billing rows, written straight to the tables: for tests of reads (the account,
the FHIR ChargeItem). A test of posting or reversing calls the service, so it sees the
translation, the price and the event."""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from billing.models import ChargeItem, FeeScheduleEntry
from tests.clinic.factories import TenantFactory
from tests.encounters.factories import EncounterFactory


class FeeScheduleEntryFactory(factory.django.DjangoModelFactory):
    """A price in GBP from 2020-01-01, open-ended."""

    class Meta:
        model = FeeScheduleEntry

    tenant = factory.SubFactory(TenantFactory)
    code = factory.Sequence(lambda n: f"T-FEE-{n}")
    display = factory.LazyAttribute(lambda o: f"Fee {o.code}")
    price = Decimal("10.00")
    currency = "GBP"
    valid_from = datetime.date(2020, 1, 1)


class ChargeItemFactory(factory.django.DjangoModelFactory):
    """A live (billed) charge of one item in an encounter."""

    class Meta:
        model = ChargeItem

    encounter = factory.SubFactory(EncounterFactory)
    tenant = factory.SelfAttribute("encounter.tenant")
    patient_id = factory.SelfAttribute("encounter.patient_id")
    code = factory.Sequence(lambda n: f"T-FEE-{n}")
    display = factory.LazyAttribute(lambda o: f"Fee {o.code}")
    quantity = 1
    unit_price = Decimal("10.00")
    currency = "GBP"
    status = ChargeItem.Status.BILLED.value
    source = factory.Sequence(lambda n: f"test:{n}")
    occurred_at = factory.LazyFunction(timezone.now)
