"""Helpers of the result tests: deliver an ORU through the HL7 intake, deliver pending events as
the worker would, and answer orders before they are placed."""

from __future__ import annotations

from typing import Any

from django.db import connection

from clinic.models import OutboxEvent
from clinic.outbox import deliver_event
from interop.v2.intake import receive
from tests.support.hl7 import ack_fields


def deliver(raw: bytes) -> tuple[Any, dict[str, list[str]]]:
    """Receive ``raw`` as the MLLP listener would: the receipt and the fields of its ACK."""
    receipt = receive(raw=raw, transport="mllp", peer="test")
    return receipt, ack_fields(receipt.ack)


def deliver_pending(type_: str) -> int:
    """Deliver, as the worker would, every undelivered event of this type (in order)."""
    pending = list(
        OutboxEvent.objects.filter(type=type_, delivered_at__isnull=True)
        .order_by("recorded_at", "id")
        .values_list("id", flat=True)
    )
    for event_id in pending:
        deliver_event(event_id=event_id)
    return len(pending)


def next_placer_numbers(count: int) -> list[str]:
    """The placer numbers our next orders will get (ORD + orders_placer_seq), so that a lab can
    answer an order before we have placed it in the test. Sequences are not transactional: the
    peeked value is handed back."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('orders_placer_seq')")
        (number,) = cursor.fetchone()
        cursor.execute("SELECT setval('orders_placer_seq', %s, false)", [number])
    return [f"ORD{number + i:08d}" for i in range(count)]


def for_our_orders(raw: bytes, cbc: str, diff: str) -> bytes:
    """A sample answering orders with our own placer numbers (the samples carry another system's)."""
    return raw.replace(b"|88502218|", f"|{cbc}|".encode()).replace(b"|855238581|", f"|{diff}|".encode())
