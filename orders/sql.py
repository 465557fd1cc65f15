"""The raw SQL of orders, all of it in this module.

A lab result looks its order up on the hot path: one indexed statement without the ORM (ADR
0005). Table and column names are read from the model (``Model._meta``) and the columns read
are the fields of ``orders.contracts.OrderRecord``, never written by hand;
``tests/orders/test_sql.py`` checks every statement against the migrated schema.
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial

from django.db import connection, models

from clinic.db import prepared_cursor
from orders.contracts import OrderRecord, OrderStatus, Priority
from orders.models import ServiceRequest


def column(model: type[models.Model], field_name: str) -> str:
    """The database column of a field (by name or attname) of ``model``."""
    field = model._meta.get_field(field_name)
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{model.__name__}.{field_name} has no column")
    return field.column


ORDER = ServiceRequest._meta.db_table
_o = partial(column, ServiceRequest)


# --- Placer numbers -----------------------------------------------------------------------------

PLACER_SEQUENCE = "orders_placer_seq"  # created by migration 0002
_NEXT_PLACER_SQL = f"SELECT nextval('{PLACER_SEQUENCE}')"


def next_placer_number() -> int:
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_PLACER_SQL)
        (number,) = cursor.fetchone()
    return int(number)


# --- The order of a result ----------------------------------------------------------------------

# An OrderRecord's fields are the model's attnames: each is read from its column.
ORDER_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(OrderRecord))
FIND_ORDER_SQL = (
    f"SELECT {', '.join(_o(name) for name in ORDER_RECORD_FIELDS)} FROM {ORDER}"  # noqa: S608  # names from the model
    f" WHERE {_o('tenant')} = %s"
    f" AND ((%s <> '' AND {_o('placer_number')} = %s) OR (%s <> '' AND {_o('filler_number')} = %s))"
    f" ORDER BY ({_o('placer_number')} = %s) DESC"
    " LIMIT 1"
)


def find_order_record(*, tenant_id: int, placer_number: str, filler_number: str) -> OrderRecord | None:
    """The order with this placer number, else the one with this filler number (empty: not
    looked for)."""
    with prepared_cursor() as cursor:  # every lab result asks: prepared once per connection
        cursor.execute(
            FIND_ORDER_SQL, [tenant_id, placer_number, placer_number, filler_number, filler_number, placer_number]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = dict(zip(ORDER_RECORD_FIELDS, row, strict=True))
    if not isinstance(values["coded"], dict):
        values["coded"] = json.loads(values["coded"])
    values["priority"] = Priority(values["priority"])
    values["status"] = OrderStatus(values["status"])
    return OrderRecord(**values)
