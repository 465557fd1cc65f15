"""Django admin of identity: merge with a preview and a confirmation."""

from __future__ import annotations

import pytest

from clinic.contracts import Role
from identity.models import MergeRecord, Patient
from tests.clinic.factories import MembershipFactory, TenantFactory, UserFactory
from tests.probe.models import ProbeChart
from tests.support.identity import NHS_NUMBERS, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant_admin(client):
    membership = MembershipFactory(role=Role.ADMIN.value, user=UserFactory(is_staff=True))
    client.force_login(membership.user)
    return membership


@pytest.mark.parametrize(
    "page", ["/admin/identity/patient/", "/admin/identity/identifiersystem/", "/admin/identity/mergerecord/"]
)
def test_identity_admin_pages_render(client, tenant_admin, page):
    register(tenant_admin.tenant, nhs=NHS_NUMBERS[0])

    assert client.get(page).status_code == 200


def test_merge_action_previews_what_moves_then_merges_on_confirmation(client, tenant_admin):
    tenant = tenant_admin.tenant
    source = register(tenant, nhs=NHS_NUMBERS[0], family="Smyth")
    target = register(tenant, mrn="KEEP-1")
    ProbeChart.objects.create(patient_id=source.id)

    action = client.post(
        "/admin/identity/patient/",
        {"action": "merge_selected", "_selected_action": [str(source.id), str(target.id)]},
    )
    preview = client.get(action["Location"])

    assert preview.status_code == 200
    html = preview.content.decode()
    assert f"https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBERS[0]} (official → old)" in html
    assert "probe.ProbeChart.patient: 1 row" in html
    assert Patient.objects.filter(active=False).count() == 0  # nothing happens before confirmation

    ids = f"{source.id},{target.id}"
    done = client.post(
        "/admin/identity/patient/merge/", {"ids": ids, "target": str(target.id), "reason": "duplicate", "confirm": "1"}
    )

    assert done.status_code == 302
    assert Patient.objects.get(pk=source.id).replaced_by_id == target.id
    assert MergeRecord.objects.get().merged_by == f"user:{tenant_admin.user.pk}"


def test_merge_page_refuses_another_tenants_patients(client, tenant_admin):
    ours = register(tenant_admin.tenant, mrn="A-1")
    theirs = register(TenantFactory(), mrn="A-1")

    response = client.get(f"/admin/identity/patient/merge/?ids={ours.id},{theirs.id}")

    assert response.status_code == 404


def test_merge_page_shows_a_missing_reason_as_an_error(client, tenant_admin):
    a, b = register(tenant_admin.tenant, mrn="A-1"), register(tenant_admin.tenant, mrn="B-1")

    response = client.post(
        "/admin/identity/patient/merge/", {"ids": f"{a.id},{b.id}", "target": str(b.id), "reason": " ", "confirm": "1"}
    )

    assert response.status_code == 200
    assert "A merge needs a reason." in response.content.decode()
    assert Patient.objects.filter(active=False).count() == 0


def test_editing_a_patient_in_admin_keeps_matching_and_search_true(client, tenant_admin):
    from identity.facade import search_patients

    patient = register(tenant_admin.tenant, family="Smyth", given=("Ada",))
    row = Patient.objects.get(pk=patient.id)

    response = client.post(
        f"/admin/identity/patient/{row.pk}/change/",
        {
            "family": "Jones",
            "given": "Ada",
            "birth_date": "1980-02-03",
            "gender": "female",
            "telecom": "[]",
            "address": "[]",
            "other_names": "[]",
            "identifiers-TOTAL_FORMS": "0",
            "identifiers-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    row.refresh_from_db()
    assert (row.family_key, row.version) == ("jones", 2)
    import datetime

    found = search_patients(tenant_id=tenant_admin.tenant_id, family="JONES", birth_date=datetime.date(1980, 2, 3))
    assert [p.id for p in found] == [patient.id]


def test_every_identity_model_has_a_proper_plural_name():
    import re

    from django.apps import apps

    plurals = {m._meta.verbose_name_plural for m in apps.get_app_config("identity").get_models()}

    assert [p for p in plurals if re.search(r"[^aeiou]ys$", str(p))] == []
    assert "merge ledger entries" in plurals
