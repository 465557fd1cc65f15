"""GET /api/terminology/translate and /unmapped; admin publish and "map it"."""

from __future__ import annotations

import datetime

import pytest
from rest_framework.test import APIClient

from clinic.contracts import Role
from terminology import engine
from terminology.facade import code_value, translate
from terminology.models import ConceptMap, ConceptMapVersion, UnmappedCode
from tests.clinic.factories import MembershipFactory, TenantFactory, UserFactory, api_token
from tests.support.terminology import LAB, LOINC, entry, lab_system, load
from tests.terminology.factories import ConceptMapEntryFactory, UnmappedCodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def setup():
    engine.invalidate()
    lab_system()


@pytest.fixture
def tenant():
    return TenantFactory()


@pytest.fixture
def api(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(tenant, scopes=['api:read'])}")
    return client


def test_translate_answers_the_coding_the_map_version_and_its_validity(api):
    load(entry("GLU", "2345-7", valid_from="2020-01-01"), version="v1", published_on=datetime.date(2020, 1, 1))

    response = api.get(
        "/api/terminology/translate", {"system": LAB, "code": "GLU", "target": LOINC, "date": "2025-03-01"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["target"] == {"system": LOINC, "code": "2345-7", "display": ""}
    assert body["map"]["name"] == "lab-to-loinc"
    assert body["map"]["version"] == "v1"
    assert body["map"]["scope"] == "global"
    assert (body["valid_from"], body["valid_to"], body["date"]) == ("2020-01-01", None, "2025-03-01")


def test_translate_defaults_to_today_and_answers_404_unmapped(api):
    response = api.get("/api/terminology/translate", {"system": LAB, "code": "NOPE", "target": LOINC})

    assert response.status_code == 404
    assert response.json()["code"] == "unmapped"
    assert f"on {datetime.date.today().isoformat()}" in response.json()["detail"]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"code": "GLU", "target": LOINC}, {"system"}),
        ({"system": LAB, "code": "GLU", "target": LOINC, "date": "2025-13-01"}, {"date"}),
    ],
)
def test_translate_with_missing_or_bad_parameters_is_400(api, query, fields):
    response = api.get("/api/terminology/translate", query)

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == fields


def test_unmapped_list_is_the_callers_tenants(api, tenant):
    UnmappedCodeFactory(tenant=tenant, code="XYZ", display="Mystery")
    UnmappedCodeFactory(code="OTHER")  # another tenant's

    body = api.get("/api/terminology/unmapped").json()

    assert [(r["code"], r["display"], r["count"]) for r in body["results"]] == [("XYZ", "Mystery", 1)]


@pytest.fixture
def tenant_admin(client, tenant):
    membership = MembershipFactory(tenant=tenant, role=Role.ADMIN.value, user=UserFactory(is_staff=True))
    client.force_login(membership.user)
    return membership


@pytest.mark.parametrize(
    "page",
    [
        "/admin/terminology/codesystem/",
        "/admin/terminology/concept/",
        "/admin/terminology/conceptmap/",
        "/admin/terminology/conceptmapversion/",
        "/admin/terminology/conceptmapentry/",
        "/admin/terminology/unmappedcode/",
    ],
)
def test_terminology_admin_pages_render(client, tenant_admin, page):
    assert client.get(page).status_code == 200


def test_tenant_admin_sees_global_maps_read_only(client, tenant_admin):
    version = ConceptMapVersion.objects.get(concept_map__name="v2-0085")

    page = client.get(f"/admin/terminology/conceptmapversion/{version.pk}/change/")

    assert page.status_code == 200
    assert b'name="label"' not in page.content  # read-only for a tenant admin


def test_admin_publishes_a_draft(client, tenant_admin, tenant):
    draft = ConceptMapEntryFactory(
        version__concept_map__tenant=tenant, source_system=LAB, source_code="GLU", target_code="1-1"
    ).version

    client.post("/admin/terminology/conceptmapversion/", {"action": "publish", "_selected_action": [draft.pk]})

    draft.refresh_from_db()
    assert draft.published_at is not None
    found = translate(tenant_id=tenant.pk, system=LAB, code="GLU", target_system=LOINC, as_of=datetime.date.today())
    assert found is not None and found.target.code == "1-1"


def test_map_it_from_the_work_list_publishes_a_new_version_with_the_old_entries(client, tenant_admin, tenant):
    load(entry("GLU", "2345-7"), version="v1", tenant_id=tenant.pk, name="ours", published_on=datetime.date(2020, 1, 1))
    code_value(tenant_id=tenant.pk, system=LAB, code="XYZ", target_system=LOINC, as_of=datetime.date.today())
    unmapped = UnmappedCode.objects.get(code="XYZ")
    our_map = ConceptMap.objects.get(name="ours")

    page = client.get(f"/admin/terminology/unmappedcode/{unmapped.pk}/map/")
    done = client.post(
        f"/admin/terminology/unmappedcode/{unmapped.pk}/map/",
        {
            "concept_map": our_map.pk,
            "target_code": "9999-9",
            "target_display": "Mystery test",
            "equivalence": "equivalent",
            "confirm": "1",
        },
    )

    assert page.status_code == 200
    assert done.status_code == 302
    today = datetime.date.today()
    assert (
        translate(tenant_id=tenant.pk, system=LAB, code="XYZ", target_system=LOINC, as_of=today).target.code == "9999-9"
    )
    assert (
        translate(tenant_id=tenant.pk, system=LAB, code="GLU", target_system=LOINC, as_of=today).target.code == "2345-7"
    )
    assert ConceptMapVersion.objects.filter(concept_map=our_map).count() == 2
    unmapped.refresh_from_db()
    assert unmapped.resolved_at is not None


def test_map_it_refuses_another_tenants_code(client, tenant_admin):
    theirs = UnmappedCodeFactory()

    response = client.get(f"/admin/terminology/unmappedcode/{theirs.pk}/map/")

    assert response.status_code == 404


def test_overlapping_entries_in_a_draft_are_a_form_error_not_a_500(client, tenant_admin, tenant):
    from terminology import services
    from tests.support.terminology import csv_bytes

    services.load_concept_map(
        data=csv_bytes(entry("GLU", "1-1")), map_name="ours", version="d1", tenant_id=tenant.pk, publish_now=False
    )
    draft = ConceptMapVersion.objects.get(label="d1")
    existing = draft.entries.get()
    row = {
        "source_system": LAB, "source_code": "HB", "source_display": "", "target_system": LOINC, "target_code": "718-7",
        "target_display": "", "equivalence": "equivalent", "valid_from": "2020-01-01", "valid_to": "", "comment": "",
    }  # fmt: skip
    data = {
        "concept_map": draft.concept_map_id,
        "label": "d1",
        "entries-TOTAL_FORMS": "3",
        "entries-INITIAL_FORMS": "1",
        "entries-0-id": existing.pk,
        "entries-0-version": draft.pk,
        **{
            f"entries-0-{k}": v
            for k, v in {**row, "source_code": "GLU", "target_code": "1-1", "valid_from": "1900-01-01"}.items()
        },
        **{f"entries-1-{k}": v for k, v in row.items()},
        **{f"entries-2-{k}": v for k, v in {**row, "valid_from": "2021-01-01"}.items()},
    }

    response = client.post(f"/admin/terminology/conceptmapversion/{draft.pk}/change/", data)

    assert response.status_code == 200
    assert "validity overlaps" in response.content.decode()
    assert draft.entries.count() == 1


def test_the_admin_index_names_concept_map_entries_in_a_proper_plural(client, tenant_admin):
    import re

    from django.apps import apps

    page = client.get("/admin/").content.decode()
    plurals = [str(m._meta.verbose_name_plural) for m in apps.get_app_config("terminology").get_models()]

    assert "Concept map entries" in page
    assert [p for p in plurals if re.search(r"[^aeiou]ys$", p)] == []
