"""The demo tenant's practitioners and their weekly schedules."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from encounters import services
from encounters.models import Practitioner, ScheduleTemplate

PRACTITIONERS = ["Dr Ada Lovelace", "Nurse Mary Seacole"]
SESSIONS = [("09:00", "12:30"), ("14:00", "17:00")]


def seed(*, tenant_id: int, site_id: int, days: int = 14) -> str:
    """Two practitioners working weekday mornings and afternoons (15-minute slots), with slots
    for the next ``days`` days. Idempotent."""
    today = timezone.localdate()
    with transaction.atomic():
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
    return f"{len(PRACTITIONERS)} practitioners, {created} new slots for the next {days} days"
