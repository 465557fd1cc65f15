from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from billing.facade import seed_demo_fees
from clinic.contracts import NotFound
from clinic.facade import get_tenant, site_ids
from encounters.facade import seed_demo_schedule
from interop import services
from interop.models import LabPartner
from terminology.facade import seed_demo_catalogue

DEMO_LAB_PORT = 2576


class Command(BaseCommand):
    # It lives in interop, the top layer, because it composes every app's demo content.
    help = (
        "Give a tenant demo content: two practitioners with slots for the next two weeks, the lab "
        "catalogue mapped to LOINC and to fee codes, the fee schedule, and a lab partner. Running "
        "it again changes nothing (beyond adding the slots of days that came into range)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="demo", help="Tenant slug (create it with create_tenant or setup_demo)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = get_tenant(slug=options["tenant"])
        except NotFound as exc:
            raise CommandError(
                f"No tenant {options['tenant']!r}: create it first (create_tenant or setup_demo)."
            ) from exc
        sites = sorted(site_ids(tenant_id=tenant.id))
        if not sites:
            raise CommandError(f"Tenant {tenant.slug} has no site: add one (admin, or POST /api/sites) first.")
        with transaction.atomic():
            lines = [seed_demo_schedule(tenant_id=tenant.id, site_id=sites[0])]
            lines += seed_demo_catalogue(tenant_id=tenant.id)
            lines.append(f"{seed_demo_fees(tenant_id=tenant.id)} fee schedule entries")
            if not LabPartner.objects.filter(tenant_id=tenant.id, name="Demo Lab").exists():
                services.create_lab_partner(
                    tenant_id=tenant.id,
                    name="Demo Lab",
                    facility="DEMOLAB",
                    application="LAB",
                    mllp_host="127.0.0.1",
                    mllp_port=DEMO_LAB_PORT,
                )
            lines.append(f"lab partner Demo Lab (orders to MLLP 127.0.0.1:{DEMO_LAB_PORT})")
        for line in lines:
            self.stdout.write(line)
