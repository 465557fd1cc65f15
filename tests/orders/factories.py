"""Factories of orders rows, written straight to the tables: for tests of reads and of the raw
SQL, and for results that need an order to chart against. A test of placing or cancelling
calls the service, so it sees the charge, the event and the locks."""

from __future__ import annotations

import factory
from django.utils import timezone

from orders.contracts import OrderStatus, Priority
from orders.models import ServiceRequest
from tests.encounters.factories import EncounterFactory


class ServiceRequestFactory(factory.django.DjangoModelFactory):
    """An active routine order of a full blood count in an encounter."""

    class Meta:
        model = ServiceRequest

    encounter = factory.SubFactory(EncounterFactory)
    tenant = factory.SelfAttribute("encounter.tenant")
    patient_id = factory.SelfAttribute("encounter.patient_id")
    placer_number = factory.Sequence(lambda n: f"T-ORD{n:06d}")
    code = "FBC"
    display = "Full blood count"
    coded = factory.LazyAttribute(lambda o: {"code": o.code, "display": o.display})
    priority = Priority.ROUTINE.value
    status = OrderStatus.ACTIVE.value
    requester = "user:test"
    ordered_at = factory.LazyFunction(timezone.now)
