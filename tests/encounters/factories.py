"""Factories of encounters rows, written straight to the tables: for tests of reads, of the raw
SQL and of what other apps do with an encounter. A test of a use case (booking, check-in, a
transition) calls the service instead, so it sees the events and the locks."""

from __future__ import annotations

import datetime
import uuid

import factory
from django.utils import timezone

from clinic.models import Site
from encounters.contracts import EncounterStatus
from encounters.models import Appointment, Encounter, Practitioner, ScheduleTemplate, Slot, TimelineEntry
from tests.clinic.factories import SiteFactory, TenantFactory
from tests.support.visit import new_patient_id


class PractitionerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Practitioner
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Dr Test {n}")

    @factory.post_generation
    def sites(self, create: bool, extracted: list[Site] | None, **kwargs: object) -> None:
        """``PractitionerFactory(sites=[site, ...])``: where they work."""
        if create and extracted:
            self.sites.set(extracted)


class ScheduleTemplateFactory(factory.django.DjangoModelFactory):
    """Mondays 09:00-12:00 in 15-minute slots, from today on."""

    class Meta:
        model = ScheduleTemplate

    practitioner = factory.SubFactory(PractitionerFactory)
    tenant = factory.SelfAttribute("practitioner.tenant")
    site = factory.SubFactory(SiteFactory, tenant=factory.SelfAttribute("..tenant"))
    weekday = 0
    start_time = datetime.time(9, 0)
    end_time = datetime.time(12, 0)
    slot_minutes = 15
    valid_from = factory.LazyFunction(timezone.localdate)


class SlotFactory(factory.django.DjangoModelFactory):
    """A free 15-minute slot from tomorrow on (each one a quarter of an hour after the last)."""

    class Meta:
        model = Slot

    practitioner = factory.SubFactory(PractitionerFactory)
    tenant = factory.SelfAttribute("practitioner.tenant")
    site = factory.SubFactory(SiteFactory, tenant=factory.SelfAttribute("..tenant"))
    start_at = factory.Sequence(lambda n: timezone.now() + datetime.timedelta(days=1, minutes=15 * n))
    end_at = factory.LazyAttribute(lambda o: o.start_at + datetime.timedelta(minutes=15))


class AppointmentFactory(factory.django.DjangoModelFactory):
    """A booked slot (no ``appointment.booked`` event: use ``services.book`` for that)."""

    class Meta:
        model = Appointment

    slot = factory.SubFactory(SlotFactory)
    tenant = factory.SelfAttribute("slot.tenant")
    patient_id = factory.LazyAttribute(lambda o: new_patient_id(o.tenant.pk))
    reason = ""


class EncounterFactory(factory.django.DjangoModelFactory):
    """An encounter in progress since now, for a new patient at a new site."""

    class Meta:
        model = Encounter

    tenant = factory.SubFactory(TenantFactory)
    site = factory.SubFactory(SiteFactory, tenant=factory.SelfAttribute("..tenant"))
    patient_id = factory.LazyAttribute(lambda o: new_patient_id(o.tenant.pk))
    visit_number = factory.Sequence(lambda n: f"T{n:07d}")
    status = EncounterStatus.IN_PROGRESS.value
    period_start = factory.LazyFunction(timezone.now)


class TimelineEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TimelineEntry

    encounter = factory.SubFactory(EncounterFactory)
    tenant = factory.SelfAttribute("encounter.tenant")
    seq = factory.Sequence(lambda n: n + 1)
    event_id = factory.LazyFunction(uuid.uuid4)
    type = "encounter.started"
    occurred_at = factory.LazyFunction(timezone.now)
    recorded_at = factory.SelfAttribute("occurred_at")
    summary = "Consultation started"
    reference = factory.LazyAttribute(lambda o: f"encounter:{o.encounter.pk}")
