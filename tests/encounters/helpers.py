"""A clinic with a site, two practitioners and slots from tomorrow on."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from clinic.models import Site, Tenant
from encounters import services
from encounters.models import Practitioner, Slot
from tests.clinic.factories import SiteFactory, TenantFactory, api_token


@dataclass
class Clinic:
    tenant: Tenant
    site: Site
    doctor: Practitioner
    nurse: Practitioner
    token: str

    def slots(self, practitioner: Practitioner | None = None) -> list[Slot]:
        return list(
            Slot.objects.filter(practitioner=practitioner or self.doctor, start_at__gt=timezone.now()).order_by(
                "start_at"
            )
        )


def make_clinic(*, days: int = 3, slug: str | None = None) -> Clinic:
    tenant = TenantFactory(**({"slug": slug} if slug else {}))
    site = SiteFactory(tenant=tenant, timezone="Europe/London")
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    with transaction.atomic():
        doctor = services.create_practitioner(tenant_id=tenant.pk, name="Dr Who", site_ids=[site.pk])
        nurse = services.create_practitioner(tenant_id=tenant.pk, name="Nurse Joy", site_ids=[site.pk])
        for practitioner in (doctor, nurse):
            for weekday in range(7):
                services.add_template(
                    tenant_id=tenant.pk,
                    practitioner_id=practitioner.pk,
                    site_id=site.pk,
                    weekday=weekday,
                    start="09:00",
                    end="12:00",
                    slot_minutes=15,
                    valid_from=tomorrow,
                )
        services.generate_slots(tenant_id=tenant.pk, start=tomorrow, days=days)
    return Clinic(
        tenant=tenant, site=site, doctor=doctor, nurse=nurse, token=api_token(tenant, name=f"desk-{tenant.pk}")
    )
