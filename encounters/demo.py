"""The demo tenant's practitioners and their weekly schedules (encounters' step of ``seed_demo``,
see ``clinic.demo``)."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from clinic.errors import InvalidInput
from clinic.facade import demo_step, get_tenant, site_ids
from encounters import services
from encounters.models import Practitioner, ScheduleTemplate

PRACTITIONERS = ["Dr Ada Lovelace", "Nurse Mary Seacole"]
SESSIONS = [("09:00", "12:30"), ("14:00", "17:00")]


@demo_step("encounters.schedules", order=30)
def seed(*, tenant_id: int, days: int = 14) -> list[str]:
    """Two practitioners working weekday mornings and afternoons (15-minute slots) at the
    tenant's first site, with slots for the next ``days`` days, in the caller's transaction (or
    one of its own). Idempotent. Raises InvalidInput when the tenant has no site."""
    sites = sorted(site_ids(tenant_id=tenant_id))
    if not sites:
        slug = get_tenant(tenant_id=tenant_id).slug
        raise InvalidInput(f"Tenant {slug} has no site: add one (admin, or POST /api/sites) first.")
    site_id = sites[0]
    today = timezone.localdate()
    with transaction.atomic(savepoint=False):
        for name in PRACTITIONERS:
            practitioner = Practitioner.objects.filter(tenant_id=tenant_id, name=name).first()
            if practitioner is None:
                practitioner = services.create_practitioner(tenant_id=tenant_id, name=name, site_ids=[site_id])
            if not ScheduleTemplate.objects.filter(practitioner=practitioner).exists():
                for weekday in range(5):
                    for start, end in SESSIONS:
                        services.add_template(
                            tenant_id=tenant_id,
                            practitioner_id=practitioner.pk,
                            site_id=site_id,
                            weekday=weekday,
                            start=start,
                            end=end,
                            slot_minutes=15,
                            valid_from=today - datetime.timedelta(days=today.weekday()),
                        )
        created = services.generate_slots(tenant_id=tenant_id, start=today, days=days)
        _link_demo_clinician(tenant_id)
    return [f"{len(PRACTITIONERS)} practitioners, {created} new slots for the next {days} days"]


def _link_demo_clinician(tenant_id: int) -> None:
    """The demo clinician (``<slug>-clinician``, made by setup_demo) is the first practitioner:
    their day list shows their own patients."""
    slug = get_tenant(tenant_id=tenant_id).slug
    user_id = get_user_model().objects.filter(username=f"{slug}-clinician").values_list("pk", flat=True).first()
    doctor = Practitioner.objects.filter(tenant_id=tenant_id, name=PRACTITIONERS[0]).first()
    if user_id is not None and doctor is not None and doctor.user_id is None:
        services.link_practitioner_to_user(tenant_id=tenant_id, practitioner_id=doctor.pk, user_id=user_id)
