from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic import selectors, services
from clinic.contracts import DEFAULT_CLIENT_SCOPES, Scope
from clinic.errors import DomainError


class Command(BaseCommand):
    help = (
        "Create an API client for a tenant and print its bearer token as the last line of output. "
        "The token is shown only now; only its hash is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--name", required=True, help="Client name, unique in the tenant (e.g. 'acme-lab')")
        parser.add_argument(
            "--scopes",
            nargs="+",
            help=(
                f"Scopes (default: {' '.join(DEFAULT_CLIENT_SCOPES)}). Known: "
                + ", ".join(s.value for s in Scope)
                + ", and SMART system scopes such as system/*.read or system/Observation.read."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = selectors.get_tenant(slug=options["tenant"])
            scopes = None
            if options["scopes"]:
                scopes = [s for item in options["scopes"] for s in item.replace(",", " ").split()]
            client, token = services.create_api_client(tenant_id=tenant.pk, name=options["name"], scopes=scopes)
        except DomainError as exc:
            raise CommandError(exc.describe()) from exc
        self.stdout.write(f"Created API client {client.name} ({client.pk}) for tenant {tenant.slug}.")
        self.stdout.write(f"Scopes: {' '.join(client.scopes)}")
        self.stdout.write("Token (shown once, send it as 'Authorization: Bearer <token>'):")
        self.stdout.write(token)
