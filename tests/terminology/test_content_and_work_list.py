"""Built-in v2 tables, coded values and the unmapped work list (the demo: tests/clinic/test_demo.py)."""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction

from clinic.models import OutboxEvent
from terminology import engine
from terminology.contracts import LOINC, CodedValue, v2_table
from terminology.facade import code_value, system_for_v2, translate
from terminology.models import Concept, UnmappedCode
from tests.clinic.factories import TenantFactory
from tests.support.terminology import LAB, entry, lab_system, load

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 1, 15)


@pytest.fixture(autouse=True)
def fresh_cache():
    engine.invalidate()


@pytest.mark.parametrize(
    ("table", "code", "target_system", "expected"),
    [
        ("0085", "F", "http://hl7.org/fhir/observation-status", "final"),
        ("0085", "P", "http://hl7.org/fhir/observation-status", "preliminary"),
        ("0085", "C", "http://hl7.org/fhir/observation-status", "corrected"),
        ("0085", "W", "http://hl7.org/fhir/observation-status", "entered-in-error"),
        ("0123", "F", "http://hl7.org/fhir/diagnostic-report-status", "final"),
        ("0123", "R", "http://hl7.org/fhir/diagnostic-report-status", "partial"),
        ("0078", "H", "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H"),
        ("0078", "HH", "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "HH"),
        ("0203", "MR", "http://terminology.hl7.org/CodeSystem/v2-0203", "MR"),
    ],
)
def test_built_in_v2_maps_translate(table, code, target_system, expected):
    tenant = TenantFactory()

    found = translate(tenant_id=tenant.pk, system=v2_table(table), code=code, target_system=target_system, as_of=TODAY)

    assert found is not None
    assert found.target.code == expected
    assert found.map_version.map_name == f"v2-{table}"
    assert found.map_version.tenant_id is None


def test_built_in_tables_carry_their_concepts_and_v2_names():
    assert Concept.objects.filter(code_system__uri=v2_table("0085")).count() == 15
    assert Concept.objects.get(code_system__uri=v2_table("0085"), code="B").display.startswith("Appended Report")
    tenant = TenantFactory()
    assert system_for_v2(tenant_id=tenant.pk, v2_identifier="LN") == LOINC
    assert system_for_v2(tenant_id=tenant.pk, v2_identifier="HL70078") == v2_table("0078")
    assert system_for_v2(tenant_id=tenant.pk, v2_identifier="99ZZ") is None


def test_coded_value_keeps_the_original_the_translation_and_the_map_version():
    lab_system()
    tenant = TenantFactory()
    load(entry("GLU", "2345-7"), version="v3", published_on=datetime.date(2020, 1, 1))

    value = code_value(tenant_id=tenant.pk, system=LAB, code="GLU", display="Glucose", target_system=LOINC, as_of=TODAY)

    assert value.mapped
    assert (value.original.code, value.original.display, value.translated.code) == ("GLU", "Glucose", "2345-7")
    assert (value.map_name, value.map_version, value.as_of) == ("lab-to-loinc", "v3", TODAY)
    assert CodedValue.from_dict(value.as_dict()) == value


def test_unmapped_codes_are_counted_on_the_tenants_work_list():
    lab_system()
    tenant, other = TenantFactory(), TenantFactory()

    first = code_value(
        tenant_id=tenant.pk,
        system=LAB,
        code="XYZ",
        display="Mystery",
        target_system=LOINC,
        as_of=TODAY,
        reference="hl7:msg-1",
    )
    code_value(tenant_id=tenant.pk, system=LAB, code="XYZ", target_system=LOINC, as_of=TODAY, reference="hl7:msg-2")

    assert not first.mapped
    assert CodedValue.from_dict(first.as_dict()) == first
    row = UnmappedCode.objects.get(tenant=tenant)
    assert (row.code, row.display, row.count, row.last_reference) == ("XYZ", "Mystery", 2, "hl7:msg-2")
    assert not UnmappedCode.objects.filter(tenant=other).exists()


def test_publishing_a_map_that_covers_an_unmapped_code_releases_it_and_tells_the_tenant():
    lab_system()
    tenant, other = TenantFactory(), TenantFactory()
    code_value(tenant_id=tenant.pk, system=LAB, code="XYZ", target_system=LOINC, as_of=TODAY)
    code_value(tenant_id=other.pk, system=LAB, code="XYZ", target_system=LOINC, as_of=TODAY)

    with transaction.atomic():
        load(entry("XYZ", "1234-5"), version="v1", tenant_id=tenant.pk)  # the tenant's own map

    assert UnmappedCode.objects.get(tenant=tenant).resolved_at is not None
    assert UnmappedCode.objects.get(tenant=other).resolved_at is None  # not covered for them
    event = OutboxEvent.objects.get(type="terminology.mapping_published")
    assert event.tenant_id == tenant.pk
    assert event.payload == {
        "map": "lab-to-loinc",
        "version": "v1",
        "codes": [{"system": LAB, "code": "XYZ", "target_system": LOINC}],
    }


def test_mapping_a_parked_code_translates_the_date_it_was_parked_for():
    from terminology import services
    from terminology.models import ConceptMap

    lab_system()
    tenant = TenantFactory()
    load(entry("GLU", "2345-7"), version="v1", tenant_id=tenant.pk, name="ours", published_on=datetime.date(2020, 1, 1))
    parked_on = datetime.date(2025, 3, 1)
    code_value(tenant_id=tenant.pk, system=LAB, code="XYZ", target_system=LOINC, as_of=parked_on)

    services.map_unmapped(
        unmapped_id=UnmappedCode.objects.get().pk,
        concept_map_id=ConceptMap.objects.get(name="ours").pk,
        target_code="9999-9",
        actor="user:1",
    )

    replay = code_value(tenant_id=tenant.pk, system=LAB, code="XYZ", target_system=LOINC, as_of=parked_on)
    assert replay.translated is not None and replay.translated.code == "9999-9"
    row = UnmappedCode.objects.get()
    assert row.resolved_at is not None and row.count == 1


def test_two_mappings_into_one_map_in_the_same_second_keep_both():
    from terminology import services
    from terminology.models import ConceptMap

    lab_system()
    tenant = TenantFactory()
    load(entry("GLU", "2345-7"), version="v1", tenant_id=tenant.pk, name="ours", published_on=datetime.date(2020, 1, 1))
    for code in ("AAA", "BBB"):
        code_value(tenant_id=tenant.pk, system=LAB, code=code, target_system=LOINC, as_of=TODAY)
    our_map = ConceptMap.objects.get(name="ours")

    for code, target in (("AAA", "1-1"), ("BBB", "2-2")):
        services.map_unmapped(
            unmapped_id=UnmappedCode.objects.get(code=code).pk,
            concept_map_id=our_map.pk,
            target_code=target,
            actor="user:1",
        )

    for code, expected in (("AAA", "1-1"), ("BBB", "2-2"), ("GLU", "2345-7")):
        found = translate(tenant_id=tenant.pk, system=LAB, code=code, target_system=LOINC, as_of=datetime.date.today())
        assert found is not None and found.target.code == expected


def test_built_in_content_that_went_missing_is_restored_published_and_only_once():
    from terminology.content import v2tofhir
    from terminology.models import ConceptMap, ConceptMapEntry, ConceptMapVersion
    from terminology.services import ensure_builtin_content

    ConceptMapEntry.objects.filter(version__concept_map__name="v2-0085").delete()
    ConceptMapVersion.objects.filter(concept_map__name="v2-0085").delete()
    ConceptMap.objects.filter(name="v2-0085").delete()
    Concept.objects.filter(code_system__uri=v2_table("0085")).delete()
    engine.invalidate()
    tenant = TenantFactory()
    status = "http://hl7.org/fhir/observation-status"
    assert translate(tenant_id=tenant.pk, system=v2_table("0085"), code="F", target_system=status, as_of=TODAY) is None

    ensure_builtin_content()
    ensure_builtin_content()

    found = translate(tenant_id=tenant.pk, system=v2_table("0085"), code="F", target_system=status, as_of=TODAY)
    assert found is not None and found.target.code == "final"
    [version] = ConceptMapVersion.objects.filter(concept_map__name="v2-0085")
    assert version.published_at is not None
    assert ConceptMapEntry.objects.filter(version=version).count() == len(v2tofhir.read("0085")[0])
    assert Concept.objects.filter(code_system__uri=v2_table("0085")).count() == 15
    assert ConceptMap.objects.filter(tenant=None).count() == 4
