from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic import selectors, services
from clinic.errors import DomainError, NotFound


class Command(BaseCommand):
    help = (
        "Give a tenant the demo content of every app (each app's demo step, see clinic.demo), lowest "
        "layer first: practitioners with slots for the next two weeks, the lab catalogue mapped to "
        "LOINC and to fee codes, the fee schedule, a lab partner. Running it again changes nothing "
        "(beyond adding the slots of days that came into range)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="demo", help="Tenant slug (create it with create_tenant or setup_demo)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = selectors.get_tenant_ref(slug=options["tenant"])
        except NotFound as exc:
            raise CommandError(
                f"No tenant {options['tenant']!r}: create it first (create_tenant or setup_demo)."
            ) from exc
        try:
            lines = services.seed_demo(tenant_id=tenant.id)
        except DomainError as exc:
            raise CommandError(exc.describe()) from exc
        for line in lines:
            self.stdout.write(line)
