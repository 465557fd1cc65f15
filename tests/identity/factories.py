"""Factories of identity rows, written directly (no registration: no identifier checks, no event).

Tests of registration, matching through the API and merges go through the real facade
(``tests.support.identity.register``); these are for the rows a test needs around it.
"""

from __future__ import annotations

import datetime
from typing import Any

import factory

from identity.contracts import Gender, IdentifierUse
from identity.models import IdentifierSystem, Patient, PatientIdentifier
from tests.clinic.factories import TenantFactory


class IdentifierSystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdentifierSystem

    tenant = factory.SubFactory(TenantFactory)
    uri = factory.Sequence(lambda n: f"urn:test:patient-ids-{n}")
    name = factory.Sequence(lambda n: f"Test patient IDs {n}")
    assigning_authority = factory.Sequence(lambda n: f"TEST{n}")
    validator = IdentifierSystem.Validator.PATTERN
    pattern = r"^[A-Za-z0-9-]{1,20}$"


class PatientFactory(factory.django.DjangoModelFactory):
    """An active patient; its matching keys come from its names, as ``Patient.save`` makes them.

    ``create_batch`` writes the lot, of one tenant, with one INSERT (a block of look-alikes for
    matching)."""

    class Meta:
        model = Patient

    tenant = factory.SubFactory(TenantFactory)
    family = factory.Sequence(lambda n: f"Family{n}")
    given = factory.LazyFunction(lambda: ["Ada"])
    birth_date = datetime.date(1980, 2, 3)
    gender = Gender.FEMALE.value

    @classmethod
    def create_batch(cls, size: int, **kwargs: Any) -> list[Patient]:
        kwargs.setdefault("tenant", TenantFactory())
        patients: list[Patient] = cls.build_batch(size, **kwargs)
        for patient in patients:
            patient.set_keys()
        return Patient.objects.bulk_create(patients)


class PatientIdentifierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientIdentifier

    patient = factory.SubFactory(PatientFactory)
    tenant = factory.SelfAttribute("patient.tenant")
    system = factory.SubFactory(IdentifierSystemFactory, tenant=factory.SelfAttribute("..patient.tenant"))
    value = factory.Sequence(lambda n: f"ID-{n}")
    use = IdentifierUse.USUAL.value
