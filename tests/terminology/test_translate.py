"""Translation as of a date: boundaries, versions, retired concepts, caching, tenants."""

from __future__ import annotations

import datetime
import time

import pytest
from django.test import override_settings

from terminology import engine
from terminology.facade import translate
from terminology.models import CodeSystem, ConceptMapVersion
from tests.clinic.factories import TenantFactory
from tests.support.terminology import LAB, LOINC, entry, lab_system, load
from tests.terminology.factories import ConceptFactory

pytestmark = pytest.mark.django_db
D = datetime.date


@pytest.fixture(autouse=True)
def fresh_cache():
    engine.invalidate()
    yield
    engine.invalidate()


@pytest.fixture
def tenant():
    lab_system()
    return TenantFactory()


def target(tenant, code: str, on: datetime.date) -> str | None:
    found = translate(tenant_id=tenant.pk, system=LAB, code=code, target_system=LOINC, as_of=on)
    return found.target.code if found else None


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (D(2024, 12, 31), None),  # the day before valid_from
        (D(2025, 1, 1), "1111-1"),  # on valid_from
        (D(2025, 6, 29), "1111-1"),  # the day before valid_to
        (D(2025, 6, 30), "2222-2"),  # on valid_to (exclusive): the next entry
        (D(2025, 12, 31), "2222-2"),  # the day before the second entry ends
        (D(2026, 1, 1), None),  # after everything
    ],
)
def test_validity_boundaries(tenant, on, expected):
    load(
        entry("GLU", "1111-1", valid_from="2025-01-01", valid_to="2025-06-30"),
        entry("GLU", "2222-2", valid_from="2025-06-30", valid_to="2026-01-01"),
        version="v1",
        published_on=D(2020, 1, 1),
    )

    assert target(tenant, "GLU", on) == expected


def test_each_date_uses_the_version_in_effect_that_day(tenant):
    load(entry("GLU", "1111-1"), version="v1", published_on=D(2024, 1, 1))
    load(entry("GLU", "2222-2"), version="v2", published_on=D(2025, 6, 1))

    assert target(tenant, "GLU", D(2023, 5, 1)) == "1111-1"  # before any publication: the first version
    assert target(tenant, "GLU", D(2025, 5, 31)) == "1111-1"
    assert target(tenant, "GLU", D(2025, 6, 1)) == "2222-2"
    assert target(tenant, "GLU", D(2030, 1, 1)) == "2222-2"


def test_publishing_a_new_version_never_changes_an_earlier_date(tenant):
    load(entry("GLU", "1111-1"), version="v1", published_on=D(2024, 1, 1))
    before = target(tenant, "GLU", D(2025, 3, 1))

    load(entry("GLU", "9999-9"), version="v2")  # published now, today

    assert target(tenant, "GLU", D(2025, 3, 1)) == before == "1111-1"
    assert target(tenant, "GLU", datetime.date.today()) == "9999-9"


def test_a_code_dropped_by_a_new_version_is_unmapped_from_then_on(tenant):
    load(entry("GLU", "1111-1"), entry("HB", "718-7"), version="v1", published_on=D(2024, 1, 1))
    load(entry("HB", "718-7"), version="v2", published_on=D(2025, 1, 1))

    assert target(tenant, "GLU", D(2024, 6, 1)) == "1111-1"
    assert target(tenant, "GLU", D(2025, 6, 1)) is None


def test_the_translation_names_the_map_version_and_its_validity(tenant):
    load(
        entry("GLU", "1111-1", valid_from="2025-01-01", valid_to="2026-01-01"), version="v7", published_on=D(2024, 1, 1)
    )

    found = translate(tenant_id=tenant.pk, system=LAB, code="GLU", target_system=LOINC, as_of=D(2025, 3, 1))

    assert found is not None
    assert (found.map_version.map_name, found.map_version.version) == ("lab-to-loinc", "v7")
    assert (found.valid_from, found.valid_to) == (D(2025, 1, 1), D(2026, 1, 1))
    assert found.equivalence == "equivalent"


def test_retired_target_concepts_are_reported_as_retired_after_retirement(tenant):
    loinc = CodeSystem.objects.get(uri=LOINC, tenant=None)
    ConceptFactory(code_system=loinc, code="1111-1", status="retired", effective_to=D(2025, 1, 1))
    load(entry("GLU", "1111-1"), version="v1", published_on=D(2020, 1, 1))

    before = translate(tenant_id=tenant.pk, system=LAB, code="GLU", target_system=LOINC, as_of=D(2024, 12, 31))
    after = translate(tenant_id=tenant.pk, system=LAB, code="GLU", target_system=LOINC, as_of=D(2025, 1, 1))

    assert before is not None and after is not None
    assert (before.target_status, after.target_status) == ("active", "retired")
    unknown = load(entry("HB", "0000-0"), version="v2", name="other", published_on=D(2020, 1, 1))
    assert unknown is not None
    assert (
        translate(tenant_id=tenant.pk, system=LAB, code="HB", target_system=LOINC, as_of=D(2024, 1, 1)).target_status
        == "unknown"
    )


def test_publishing_in_this_process_empties_the_cache_at_once(tenant):
    load(entry("GLU", "1111-1"), version="v1", published_on=D(2020, 1, 1))
    today = datetime.date.today()
    assert target(tenant, "GLU", today) == "1111-1"  # now cached

    load(entry("GLU", "2222-2"), version="v2")

    assert target(tenant, "GLU", today) == "2222-2"


@override_settings(TERMINOLOGY_CACHE_CHECK_SECONDS=0.2)
def test_a_publication_by_another_process_is_noticed_within_the_check_interval(tenant):
    load(entry("GLU", "1111-1"), version="v1", published_on=D(2020, 1, 1))
    load(entry("GLU", "2222-2"), version="v2", published_on=D(2020, 1, 1))
    ConceptMapVersion.objects.filter(label="v2").update(published_at=None)
    engine.invalidate()
    today = datetime.date.today()
    assert target(tenant, "GLU", today) == "1111-1"  # cached, with v2 unpublished

    # Another process publishes v2: only the database changes, this process's cache does not.
    from django.utils import timezone

    ConceptMapVersion.objects.filter(label="v2").update(published_at=timezone.now())
    assert target(tenant, "GLU", today) == "1111-1"  # within the interval: still the cached answer
    time.sleep(0.3)

    assert target(tenant, "GLU", today) == "2222-2"


def test_a_tenants_own_map_applies_only_to_it_and_wins_over_a_global_one(tenant):
    other = TenantFactory()
    lab_system(tenant_id=None)
    load(entry("GLU", "1111-1"), version="g1", name="global-map", published_on=D(2020, 1, 1))
    load(entry("GLU", "5555-5"), version="t1", name="local-map", tenant_id=tenant.pk, published_on=D(2020, 1, 1))

    assert target(tenant, "GLU", D(2025, 1, 1)) == "5555-5"
    assert target(other, "GLU", D(2025, 1, 1)) == "1111-1"


def test_unknown_code_is_unmapped(tenant):
    load(entry("GLU", "1111-1"), version="v1", published_on=D(2020, 1, 1))

    assert target(tenant, "NOPE", D(2025, 1, 1)) is None


def test_draft_versions_are_not_used(tenant):
    from terminology import services
    from tests.support.terminology import csv_bytes

    services.load_concept_map(
        data=csv_bytes(entry("GLU", "1111-1")), map_name="drafty", version="d1", tenant_id=None, publish_now=False
    )

    assert target(tenant, "GLU", D(2025, 1, 1)) is None


def test_warm_translation_is_served_from_memory(tenant, django_assert_num_queries):
    load(entry("GLU", "1111-1"), version="v1", published_on=D(2020, 1, 1))
    target(tenant, "GLU", D(2025, 1, 1))

    with django_assert_num_queries(0):
        for _ in range(100):
            assert target(tenant, "GLU", D(2025, 1, 1)) == "1111-1"


def test_a_map_published_later_never_rewrites_what_an_older_map_said_about_an_earlier_date(tenant):
    load(entry("GLU", "1111-1"), version="a1", name="map-a", published_on=D(2020, 1, 1))
    earlier = D(2023, 5, 1)
    assert target(tenant, "GLU", earlier) == "1111-1"

    load(entry("GLU", "9999-9"), version="b1", name="map-b")  # published today

    assert target(tenant, "GLU", earlier) == "1111-1"
    assert target(tenant, "GLU", datetime.date.today()) == "9999-9"


def test_a_tenants_new_map_does_not_rewrite_the_global_answer_for_earlier_dates(tenant):
    load(entry("GLU", "1111-1"), version="g1", name="global-map", published_on=D(2020, 1, 1))

    load(entry("GLU", "5555-5"), version="t1", name="local-map", tenant_id=tenant.pk)  # today

    assert target(tenant, "GLU", D(2023, 5, 1)) == "1111-1"
    assert target(tenant, "GLU", datetime.date.today()) == "5555-5"


def test_a_later_version_fills_in_a_code_that_was_unmapped_on_an_earlier_date(tenant):
    load(entry("HB", "718-7"), version="v1", published_on=D(2020, 1, 1))
    assert target(tenant, "GLU", D(2023, 5, 1)) is None

    load(entry("HB", "718-7"), entry("GLU", "2345-7"), version="v2")  # today, adds GLU

    assert target(tenant, "GLU", D(2023, 5, 1)) == "2345-7"  # unmapped → mapped: allowed
    assert target(tenant, "HB", D(2023, 5, 1)) == "718-7"


def test_a_tenants_local_code_system_does_not_change_anothers_concept_status(tenant):
    theirs = ConceptFactory(code_system__uri=LOINC, code="1111-1", status="retired").code_system
    other = theirs.tenant
    load(entry("GLU", "1111-1"), version="v1", published_on=D(2020, 1, 1))

    mine = translate(tenant_id=tenant.pk, system=LAB, code="GLU", target_system=LOINC, as_of=D(2025, 1, 1))
    theirs_view = translate(tenant_id=other.pk, system=LAB, code="GLU", target_system=LOINC, as_of=D(2025, 1, 1))

    assert (mine.target_status, theirs_view.target_status) == ("unknown", "retired")


@override_settings(TERMINOLOGY_CACHE_CHECK_SECONDS=60)
def test_an_unmapped_answer_is_rechecked_against_publications_elsewhere_before_it_is_given(tenant):
    from django.utils import timezone

    load(entry("GLU", "1111-1"), version="v1", published_on=D(2020, 1, 1))
    load(entry("XYZ", "4444-4"), version="other-process", name="late", published_on=D(2020, 1, 1))
    ConceptMapVersion.objects.filter(label="other-process").update(published_at=None)
    engine.invalidate()
    assert target(tenant, "XYZ", D(2025, 1, 1)) is None  # cached as unmapped; the next check is a minute away

    ConceptMapVersion.objects.filter(label="other-process").update(
        published_at=timezone.now() - datetime.timedelta(days=2000)
    )

    assert target(tenant, "XYZ", D(2025, 1, 1)) == "4444-4"
