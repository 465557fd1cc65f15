"""Typed event payloads: each event type's contract (clinic.contracts.EventPayload), registered by
its producer, is what publish stores and what consumers read, in both directions checked
field by field; a payload stored by an older version of a contract is upgraded when read."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

import pytest
from django.db import transaction

from clinic import events
from clinic.contracts import Event, EventPayload, TimelineLine, described
from clinic.errors import InvalidEvent, InvalidEventContract, UnknownEventType
from clinic.facade import decode_event, describe_event, payload_of, publish
from clinic.facade import events as outbox_events
from clinic.models import OutboxEvent
from tests.clinic.factories import OutboxEventFactory, TenantFactory
from tests.probe.contracts import ProbeFlaky, ProbeHappened

pytestmark = pytest.mark.django_db


class Colour(enum.StrEnum):
    RED = "red"


@dataclass(frozen=True, slots=True)
class Part:
    code: str
    count: int


@dataclass(frozen=True, slots=True)
class Everything(EventPayload):
    event_type: ClassVar[str] = "contract_test.everything"

    id: UUID = described("an id")
    at: datetime = described("a time")
    on: date = described("a date")
    amount: Decimal = described("money")
    colour: Colour = described("an enum")
    parts: tuple[Part, ...] = described("nested rows")
    extra: dict[str, Any] = described("a JSON object")
    ratio: float = described("a number")
    flag: bool = described("a flag")
    maybe: str | None = described("text or null", default=None)


def everything() -> Everything:
    return Everything(
        id=UUID(int=1),
        at=datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
        on=date(2026, 1, 2),
        amount=Decimal("12.50"),
        colour=Colour.RED,
        parts=(Part(code="A", count=2),),
        extra={"counts": {"created": 1}},
        ratio=0.5,
        flag=True,
    )


def stored(payload: dict[str, Any], *, type: str, version: int = 1) -> Event:
    now = datetime.now(tz=UTC)
    return Event(
        id=uuid.uuid4(),
        type=type,
        tenant_id=1,
        payload=payload,
        occurred_at=now,
        recorded_at=now,
        payload_version=version,
    )


def test_a_payload_is_stored_as_plain_json_and_reads_back_equal():
    events.register_contract(Everything)

    data = events.encode(everything())

    assert data == {
        "id": "00000000-0000-0000-0000-000000000001",
        "at": "2026-01-02T03:04:05.600000+00:00",
        "on": "2026-01-02",
        "amount": "12.50",
        "colour": "red",
        "parts": [{"code": "A", "count": 2}],
        "extra": {"counts": {"created": 1}},
        "ratio": 0.5,
        "flag": True,
        "maybe": None,
    }
    assert decode_event(stored(data, type=Everything.event_type)) == everything()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"id": "not-a-uuid"}, "id is not a valid UUID"),
        ({"amount": 12.5}, "amount must be text"),
        ({"parts": [{"code": "A"}]}, "parts[0].count is missing"),
        ({"parts": [{"code": "A", "count": "2"}]}, "parts[0].count must be int, not str"),
        ({"flag": 1}, "flag must be bool, not int"),
        ({"colour": "blue"}, "colour is not a valid Colour"),
        ({"renamed": 1}, "has keys its contract does not declare: renamed"),
    ],
)
def test_a_stored_payload_that_does_not_match_its_contract_does_not_read(change, problem):
    events.register_contract(Everything)
    data = {**events.encode(everything()), **change}

    with pytest.raises(InvalidEvent) as refused:
        decode_event(stored(data, type=Everything.event_type))

    assert problem in refused.value.message


def test_publish_refuses_a_payload_whose_fields_do_not_hold_what_the_contract_declares():
    tenant = TenantFactory()
    wrong = dataclasses.replace(ProbeHappened(), order="00000000-0000-0000-0000-000000000007")  # type: ignore[arg-type]

    with pytest.raises(InvalidEvent, match="order must be UUID, not str"), transaction.atomic():
        publish(payload=wrong, tenant_id=tenant.pk)

    assert OutboxEvent.objects.count() == 0


def test_publish_refuses_an_event_type_without_a_registered_contract():
    @dataclass(frozen=True, slots=True)
    class Unregistered(EventPayload):
        event_type: ClassVar[str] = "contract_test.unregistered"

    with pytest.raises(UnknownEventType), transaction.atomic():
        publish(payload=Unregistered(), tenant_id=TenantFactory().pk)


def test_a_consumer_reads_the_payload_through_the_contract_of_its_type():
    tenant = TenantFactory()
    with transaction.atomic():
        event = publish(payload=ProbeHappened(n=3, order=UUID(int=7)), tenant_id=tenant.pk)

    assert payload_of(event, ProbeHappened) == ProbeHappened(n=3, order=UUID(int=7))
    assert describe_event(event) == TimelineLine(summary="Probe 3", reference=f"probe:{UUID(int=7)}")
    with pytest.raises(InvalidEvent, match="not a ProbeFlaky"):
        payload_of(event, ProbeFlaky)


@dataclass(frozen=True, slots=True)
class Renamed(EventPayload):
    """Version 2 renamed ``qty`` (version 1) to ``quantity``; version 3 added ``unit``."""

    event_type: ClassVar[str] = "contract_test.renamed"
    event_version: ClassVar[int] = 3

    quantity: int = described("how many")
    unit: str = described("of what")

    @classmethod
    def upgrade(cls, payload: dict[str, Any], version: int) -> dict[str, Any]:
        if version == 1:
            return {"quantity": payload["qty"]}
        if version == 2:
            return {**payload, "unit": "each"}
        return super().upgrade(payload, version)


def test_an_event_stored_by_an_older_version_of_its_contract_is_upgraded_when_read():
    events.register_contract(Renamed)
    row = OutboxEventFactory(type=Renamed.event_type, payload={"qty": 3}, payload_version=1)

    (event,) = outbox_events(tenant_id=row.tenant_id, types=[Renamed.event_type])

    assert decode_event(event) == Renamed(quantity=3, unit="each")
    with pytest.raises(InvalidEvent, match="version 4"):
        decode_event(stored({"quantity": 3, "unit": "each"}, type=Renamed.event_type, version=4))


def test_a_contract_is_registered_once_as_a_dataclass_with_a_type_and_its_fields_explained():
    class Undeclared(EventPayload):
        event_type: ClassVar[str] = "contract_test.undeclared"

    @dataclass(frozen=True, slots=True)
    class Unexplained(EventPayload):
        event_type: ClassVar[str] = "contract_test.unexplained"
        n: int = 0

    @dataclass(frozen=True, slots=True)
    class Impostor(EventPayload):
        event_type: ClassVar[str] = ProbeHappened.event_type

    @dataclass(frozen=True, slots=True)
    class BadType(EventPayload):
        event_type: ClassVar[str] = "Contract Test"

    for contract, problem in [
        (Undeclared, "declare it @dataclass"),
        (Unexplained, "say what n mean"),
        (Impostor, "already has the contract ProbeHappened"),
        (BadType, "dotted lower_snake"),
    ]:
        with pytest.raises(InvalidEventContract, match=problem):
            events.register_contract(contract)
    events.register_contract(ProbeHappened)  # the same class again: harmless


def test_every_subscription_names_an_event_type_with_a_registered_contract(monkeypatch):
    from django.core.management import call_command

    from clinic.apps import check_event_subscriptions

    assert events.unregistered_subscriptions() == []
    call_command("check")  # clinic.E001 among the startup checks

    monkeypatch.setitem(
        events._subscribers,
        "contract_test.typo",
        events.Subscriber(name="contract_test.typo", event_types=frozenset({"order.plaecd"}), handler=print),
    )
    assert [e.id for e in check_event_subscriptions()] == ["clinic.E001"]
