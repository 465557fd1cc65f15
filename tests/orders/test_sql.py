"""The raw SQL of orders (orders/sql.py) against the migrated schema: a migration that drops or
renames a column the order lookup reads fails here first."""

from __future__ import annotations

import dataclasses

import pytest

from orders import selectors, sql
from orders.contracts import OrderRecord
from orders.models import ServiceRequest
from tests.clinic.factories import TenantFactory
from tests.orders.factories import ServiceRequestFactory
from tests.support.visit import model_columns, schema_columns, unknown_columns

pytestmark = pytest.mark.django_db


def test_the_order_table_has_exactly_the_models_columns():
    assert sorted(schema_columns(sql.ORDER)) == model_columns(ServiceRequest)


def test_the_order_lookup_reads_a_column_for_every_field_of_the_order_record():
    read = [sql.column(ServiceRequest, name) for name in sql.ORDER_RECORD_FIELDS]

    assert list(sql.ORDER_RECORD_FIELDS) == [f.name for f in dataclasses.fields(OrderRecord)]
    assert unknown_columns(sql.ORDER, read) == []


def test_the_check_catches_a_column_the_schema_does_not_have():
    assert unknown_columns(sql.ORDER, ["placer_number", "placer_no"]) == ["placer_no"]


def test_the_order_lookup_returns_the_record_the_model_gives():
    order = ServiceRequestFactory(
        placer_number="T-ORD-1",
        filler_number="LAB-9",
        coded={"code": "FBC", "translated": {"code": "24317-0"}},
        priority="urgent",
        specimen_note="fasting",
    )
    expected = selectors.order_record(ServiceRequest.objects.get(pk=order.pk))

    by_placer = sql.find_order_record(tenant_id=order.tenant_id, placer_number="T-ORD-1", filler_number="")
    by_filler = sql.find_order_record(tenant_id=order.tenant_id, placer_number="", filler_number="LAB-9")
    elsewhere = sql.find_order_record(tenant_id=TenantFactory().pk, placer_number="T-ORD-1", filler_number="")

    assert by_placer == by_filler == expected
    assert elsewhere is None


def test_the_placer_number_wins_over_another_orders_filler_number():
    mine = ServiceRequestFactory(placer_number="X-1")
    ServiceRequestFactory(encounter=mine.encounter, filler_number="X-1")

    found = sql.find_order_record(tenant_id=mine.tenant_id, placer_number="X-1", filler_number="X-1")

    assert found is not None and found.id == mine.pk
