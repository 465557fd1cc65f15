"""The encounter account (``GET /api/encounters/<id>/charges``) and billing's admin pages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from tests.billing.factories import ChargeItemFactory, FeeScheduleEntryFactory
from tests.clinic.factories import MembershipFactory, TenantFactory, UserFactory, api_token
from tests.encounters.factories import EncounterFactory

pytestmark = pytest.mark.django_db


def client_of(tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(tenant)}")
    return client


def test_the_account_lists_every_charge_and_totals_the_billed_ones_per_currency():
    encounter = EncounterFactory()
    ChargeItemFactory(encounter=encounter, code="T-1", unit_price=Decimal("10.00"), quantity=2)
    ChargeItemFactory(encounter=encounter, code="T-2", unit_price=Decimal("3.50"), status="reversed")
    ChargeItemFactory(encounter=encounter, code="T-3", unit_price=Decimal("4.00"), currency="EUR")

    account = client_of(encounter.tenant).get(f"/api/encounters/{encounter.pk}/charges").json()

    assert account["encounter"] == str(encounter.pk)
    assert [(c["code"], c["quantity"], c["unit_price"], c["status"]) for c in account["charges"]] == [
        ("T-1", 2, "10.00", "billed"),
        ("T-2", 1, "3.50", "reversed"),
        ("T-3", 1, "4.00", "billed"),
    ]
    assert account["total"] == {"EUR": "4.00", "GBP": "20.00"}


def test_an_encounter_without_charges_has_an_empty_account():
    encounter = EncounterFactory()

    account = client_of(encounter.tenant).get(f"/api/encounters/{encounter.pk}/charges").json()

    assert (account["charges"], account["total"]) == ([], {})


def test_another_tenants_account_does_not_exist():
    charge = ChargeItemFactory()

    response = client_of(TenantFactory()).get(f"/api/encounters/{charge.encounter_id}/charges")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("page", "shows"), [("/admin/billing/", "Fee schedule entries"), ("/admin/billing/chargeitem/", "T-")]
)
def test_billing_admin_pages_render_for_a_tenant_admin(client, page, shows):
    from clinic.contracts import Role

    charge = ChargeItemFactory()
    FeeScheduleEntryFactory(tenant=charge.tenant)
    client.force_login(
        MembershipFactory(tenant=charge.tenant, role=Role.ADMIN.value, user=UserFactory(is_staff=True)).user
    )

    response = client.get(page)

    assert response.status_code == 200
    assert shows in response.content.decode()
