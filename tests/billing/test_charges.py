"""Posting and reversing charges: translated to a fee code as of a date, priced from the fee
schedule, one live charge per source, in the caller's transaction."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from billing import facade
from billing.models import ChargeItem
from clinic.models import OutboxEvent
from terminology.contracts import catalogue_system
from tests.encounters.factories import EncounterFactory
from tests.support.visit import FEES_FROM, LAB_MAP_VERSION, lab_catalogue, lab_test

pytestmark = pytest.mark.django_db

TODAY = datetime.date.today()


@pytest.fixture
def encounter():
    encounter = EncounterFactory()
    lab_catalogue(encounter.tenant)
    return encounter


def post(encounter, code: str = "FBC", *, on: datetime.date = TODAY, source: str = "order:1"):
    return facade.post_charge(
        tenant_id=encounter.tenant_id,
        patient_id=encounter.patient_id,
        encounter_id=encounter.pk,
        catalogue_system=catalogue_system(encounter.tenant.slug),
        catalogue_code=code,
        on=on,
        source=source,
    )


def test_a_catalogue_item_is_charged_at_its_fee_codes_price_and_published(encounter):
    fbc = lab_test("FBC")

    charge = post(encounter)

    assert (charge.code, charge.display, charge.unit_price, charge.currency, charge.amount) == (
        fbc.fee_code,
        fbc.fee_display,
        fbc.price,
        "GBP",
        fbc.price,
    )
    assert (charge.status, charge.source, charge.fee_map_version) == ("billed", "order:1", LAB_MAP_VERSION)
    event = OutboxEvent.objects.get(type="charge.posted")
    assert (event.encounter_id, event.patient_id) == (encounter.pk, encounter.patient_id)
    assert event.payload == {
        "charge_id": str(charge.id),
        "code": fbc.fee_code,
        "display": fbc.fee_display,
        "amount": str(fbc.price),
        "currency": "GBP",
        "source": "order:1",
    }


def test_a_catalogue_item_without_a_fee_code_is_refused(encounter):
    from terminology import services as terminology

    terminology.ensure_concepts(
        system_uri=catalogue_system(encounter.tenant.slug), tenant_id=encounter.tenant_id, concepts=[("NEW", "New")]
    )

    with pytest.raises(facade.UnmappedBillingCode, match="NEW has no billing code"):
        post(encounter, "NEW")
    assert not ChargeItem.objects.exists()


def test_a_fee_code_without_a_price_on_the_day_is_refused(encounter):
    with pytest.raises(facade.NoFeeForCode):
        post(encounter, on=FEES_FROM - datetime.timedelta(days=1))
    assert not OutboxEvent.objects.filter(type="charge.posted").exists()


def test_a_source_is_charged_once(encounter):
    first = post(encounter)

    with pytest.raises(facade.AlreadyCharged), transaction.atomic():
        post(encounter)

    assert list(ChargeItem.objects.values_list("pk", flat=True)) == [first.id]


def test_reversing_marks_the_charge_reversed_once_and_publishes_it(encounter):
    charge = post(encounter)

    reversed_ = facade.reverse_charges(tenant_id=encounter.tenant_id, source="order:1")
    again = facade.reverse_charges(tenant_id=encounter.tenant_id, source="order:1")

    assert [(c.id, c.status) for c in reversed_] == [(charge.id, "reversed")]
    assert reversed_[0].reversed_at is not None
    assert again == []
    assert OutboxEvent.objects.filter(type="charge.reversed").count() == 1


def test_a_reversed_source_can_be_charged_again(encounter):
    post(encounter)
    facade.reverse_charges(tenant_id=encounter.tenant_id, source="order:1")

    again = post(encounter)

    assert sorted(ChargeItem.objects.values_list("status", flat=True)) == ["billed", "reversed"]
    assert again.status == "billed"


def test_a_charge_rolls_back_with_the_clinical_step_that_posted_it(encounter):
    class StepFailed(Exception):
        pass

    with pytest.raises(StepFailed), transaction.atomic():
        post(encounter)
        raise StepFailed

    assert not ChargeItem.objects.exists()
    assert not OutboxEvent.objects.filter(type="charge.posted").exists()


def test_the_charges_of_an_encounter_are_listed_oldest_first(encounter):
    post(encounter, "FBC", source="order:1")
    post(encounter, "TSH", source="order:2")
    facade.reverse_charges(tenant_id=encounter.tenant_id, source="order:1")

    charges = facade.charges_of_encounter(tenant_id=encounter.tenant_id, encounter_id=encounter.pk)

    assert [(c.source, c.status) for c in charges] == [("order:1", "reversed"), ("order:2", "billed")]
    assert facade.charges_of_encounter(tenant_id=encounter.tenant_id + 1000, encounter_id=encounter.pk) == []


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_posts_of_one_source_charge_it_once():
    encounter = EncounterFactory()
    lab_catalogue(encounter.tenant)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt():
        try:
            barrier.wait()
            with transaction.atomic():
                post(encounter, source="order:race")
            outcomes.append("charged")
        except facade.AlreadyCharged:
            outcomes.append("already charged")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["already charged"] * 7 + ["charged"]
    assert ChargeItem.objects.filter(source="order:race").count() == 1
    assert Decimal(ChargeItem.objects.get().unit_price) == lab_test("FBC").price
