from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic import services
from clinic.errors import DomainError, TenantAlreadyExists


class Command(BaseCommand):
    help = "Create a tenant (a clinic organisation), optionally adopting a policy template."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True, help="URL-safe identifier, e.g. 'riverside'")
        parser.add_argument("--name", required=True, help="Display name, e.g. 'Riverside Clinic'")
        parser.add_argument("--template", help="Name of the policy template to adopt")
        parser.add_argument("--exists-ok", action="store_true", help="Succeed if the tenant already exists")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = services.create_tenant(slug=options["slug"], name=options["name"], template=options["template"])
        except TenantAlreadyExists as exc:
            if options["exists_ok"]:
                self.stdout.write(f"Tenant {options['slug']} already exists.")
                return
            raise CommandError(exc.message) from exc
        except DomainError as exc:
            raise CommandError(exc.describe()) from exc
        self.stdout.write(self.style.SUCCESS(f"Created tenant {tenant.slug} ({tenant.name}), id {tenant.pk}."))
