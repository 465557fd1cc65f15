"""Factories of terminology rows, written directly (no CSV file, no publication event).

Maps a test translates through are loaded with the real loader
(``tests.support.terminology.load``); these are for the rows a test needs around it. A version
made here is a draft unless given ``published_at``; translations notice it after
``terminology.engine.invalidate()``.
"""

from __future__ import annotations

import datetime

import factory

from terminology.contracts import LOINC
from terminology.models import CodeSystem, Concept, ConceptMap, ConceptMapEntry, ConceptMapVersion, UnmappedCode
from tests.clinic.factories import TenantFactory


class CodeSystemFactory(factory.django.DjangoModelFactory):
    """A tenant's local code system (``tenant=None``: a global one)."""

    class Meta:
        model = CodeSystem

    tenant = factory.SubFactory(TenantFactory)
    uri = factory.Sequence(lambda n: f"urn:test:codes-{n}")
    name = factory.Sequence(lambda n: f"Test codes {n}")


class ConceptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Concept

    code_system = factory.SubFactory(CodeSystemFactory)
    code = factory.Sequence(lambda n: f"C{n}")
    display = factory.Sequence(lambda n: f"Concept {n}")


class ConceptMapFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConceptMap

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"test-map-{n}")
    url = factory.LazyAttribute(lambda m: f"urn:clinic:conceptmap:{m.name}")
    title = factory.LazyAttribute(lambda m: m.name)


class ConceptMapVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConceptMapVersion

    concept_map = factory.SubFactory(ConceptMapFactory)
    label = factory.Sequence(lambda n: f"v{n}")


class ConceptMapEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConceptMapEntry

    version = factory.SubFactory(ConceptMapVersionFactory)
    source_system = "urn:test:lab-codes"
    source_code = factory.Sequence(lambda n: f"S{n}")
    target_system = LOINC
    target_code = factory.Sequence(lambda n: f"{n}-0")
    valid_from = datetime.date(1900, 1, 1)


class UnmappedCodeFactory(factory.django.DjangoModelFactory):
    """A code on a tenant's work list of codes no map translates."""

    class Meta:
        model = UnmappedCode

    tenant = factory.SubFactory(TenantFactory)
    source_system = "urn:test:lab-codes"
    code = factory.Sequence(lambda n: f"U{n}")
    target_system = LOINC
