"""python manage.py seed_demo: demo content for a tenant, the same after a second run."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from billing.models import FeeScheduleEntry
from encounters.models import Practitioner, ScheduleTemplate, Slot
from interop.models import LabPartner
from terminology.models import ConceptMapVersion
from tests.clinic.factories import SiteFactory, TenantFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts(tenant):
    return (
        Practitioner.objects.filter(tenant=tenant).count(),
        ScheduleTemplate.objects.filter(tenant=tenant).count(),
        Slot.objects.filter(tenant=tenant).count(),
        ConceptMapVersion.objects.filter(concept_map__tenant=tenant).count(),
        FeeScheduleEntry.objects.filter(tenant=tenant).count(),
        LabPartner.objects.filter(tenant=tenant).count(),
    )


def test_seed_demo_gives_a_tenant_everything_once():
    tenant = TenantFactory(slug="sunny")
    SiteFactory(tenant=tenant)

    first = run("--tenant", "sunny")
    after_first = counts(tenant)
    run("--tenant", "sunny")

    practitioners, templates, slots, maps, fees, labs = after_first
    assert (practitioners, templates, maps, fees, labs) == (2, 20, 2, 9, 1)
    assert slots > 0
    assert counts(tenant) == after_first
    assert "lab-catalogue-to-loinc demo-1: 12 entries" in first


def test_seed_demo_needs_a_tenant_with_a_site():
    TenantFactory(slug="empty")

    with pytest.raises(CommandError, match="No tenant 'nowhere'"):
        run("--tenant", "nowhere")
    with pytest.raises(CommandError, match="has no site"):
        run("--tenant", "empty")
