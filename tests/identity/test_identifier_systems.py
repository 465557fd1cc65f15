"""Identifier systems come from the tenant's policy, and the admin refuses broken ones."""

from __future__ import annotations

import pytest
from django.db import transaction

from clinic import services as kernel
from clinic.contracts import Role
from clinic.models import PolicyTemplate
from identity.models import IdentifierSystem
from identity.services import ensure_identifier_systems
from tests.clinic.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

LAB_SYSTEM = {
    "uri": "urn:oid:2.16.840.1.113883.3.72.5.30.2",
    "name": "Acme lab patient ID",
    "assigning_authority": "ACMELAB",
    "validator": "pattern",
    "pattern": "^[0-9]{6,10}$",
    "authoritative": False,
}


def test_a_new_tenant_gets_its_mrn_and_the_nhs_number():
    with transaction.atomic():
        tenant = kernel.create_tenant(slug="riverside", name="Riverside")

    ensure_identifier_systems(tenant_id=tenant.pk)

    systems = {s.uri: s for s in IdentifierSystem.objects.filter(tenant=tenant)}
    assert set(systems) == {"urn:clinic:riverside:mrn", "https://fhir.nhs.uk/Id/nhs-number"}
    mrn = systems["urn:clinic:riverside:mrn"]
    assert (mrn.assigning_authority, mrn.mints, mrn.pattern) == ("RIVERSIDE", True, "^[A-Za-z0-9-]{1,20}$")
    assert systems["https://fhir.nhs.uk/Id/nhs-number"].validator == "nhs-number"


def test_a_group_template_can_seed_more_systems_and_seeding_twice_changes_nothing():
    from identity.apps import DEFAULT_IDENTIFIER_SYSTEMS

    template = PolicyTemplate.objects.create(
        name="acme-group", settings={"identifier_systems": {"seed": [*DEFAULT_IDENTIFIER_SYSTEMS, LAB_SYSTEM]}}
    )
    tenant = kernel.create_tenant(slug="hillside", name="Hillside", template=template.name)

    ensure_identifier_systems(tenant_id=tenant.pk)
    ensure_identifier_systems(tenant_id=tenant.pk)

    uris = set(IdentifierSystem.objects.filter(tenant=tenant).values_list("uri", flat=True))
    assert uris == {"urn:clinic:hillside:mrn", "https://fhir.nhs.uk/Id/nhs-number", LAB_SYSTEM["uri"]}


def test_admin_refuses_an_identifier_system_with_a_broken_pattern(client):
    membership = MembershipFactory(role=Role.ADMIN.value, user=UserFactory(is_staff=True))
    client.force_login(membership.user)

    response = client.post(
        "/admin/identity/identifiersystem/add/",
        {**LAB_SYSTEM, "pattern": "^[0-9", "oid": "", "authoritative": ""},
    )

    assert response.status_code == 200
    assert "Not a valid regular expression" in response.content.decode()
    assert not IdentifierSystem.objects.filter(uri=LAB_SYSTEM["uri"]).exists()
