"""What a lab result tells about its order (``orders.facade``, called while results chart)."""

from __future__ import annotations

import pytest

from orders import facade
from orders.contracts import OrderStatus
from tests.orders.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db


def test_a_final_result_completes_the_order_and_keeps_the_labs_first_filler_number():
    order = ServiceRequestFactory()

    preliminary = facade.record_result_status(
        tenant_id=order.tenant_id, order_id=order.pk, filler_number="LAB-1", final=False
    )
    final = facade.record_result_status(tenant_id=order.tenant_id, order_id=order.pk, filler_number="LAB-2", final=True)

    assert (preliminary.status, preliminary.filler_number, preliminary.version) == (OrderStatus.ACTIVE, "LAB-1", 2)
    assert (final.status, final.filler_number, final.version) == (OrderStatus.COMPLETED, "LAB-1", 3)


def test_a_result_changes_nothing_it_does_not_tell():
    order = ServiceRequestFactory(filler_number="LAB-1")

    again = facade.record_result_status(
        tenant_id=order.tenant_id, order_id=order.pk, filler_number="LAB-1", final=False
    )

    assert (again.status, again.version) == (OrderStatus.ACTIVE, 1)


def test_a_revoked_order_stays_revoked_when_its_result_arrives():
    order = ServiceRequestFactory(status=OrderStatus.REVOKED.value)

    after = facade.record_result_status(tenant_id=order.tenant_id, order_id=order.pk, filler_number="LAB-1", final=True)

    assert (after.status, after.filler_number) == (OrderStatus.REVOKED, "LAB-1")


def test_another_tenants_order_is_not_found():
    order = ServiceRequestFactory()
    other = ServiceRequestFactory()

    with pytest.raises(facade.OrderNotFound):
        facade.get_order(tenant_id=other.tenant_id, order_id=order.pk)
    with pytest.raises(facade.OrderNotFound):
        facade.record_result_status(tenant_id=other.tenant_id, order_id=order.pk, filler_number="", final=True)


def test_an_order_is_found_by_placer_number_else_by_the_filler_number_a_result_gave_it():
    order = ServiceRequestFactory(placer_number="T-P-1", filler_number="LAB-7")

    by_placer = facade.find_order(tenant_id=order.tenant_id, placer_number="T-P-1")
    by_filler = facade.find_order(tenant_id=order.tenant_id, placer_number="UNKNOWN", filler_number="LAB-7")
    neither = facade.find_order(tenant_id=order.tenant_id)

    assert by_placer is not None and by_placer.id == order.pk
    assert by_filler is not None and by_filler.id == order.pk
    assert neither is None
