from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from clinic.facade import get_tenant
from terminology import services


class Command(BaseCommand):
    help = "Register a code system (global, or a tenant's local one) so concept maps may use it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--uri", required=True, help="Canonical URI, e.g. urn:oid:... or https://...")
        parser.add_argument("--name", required=True)
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--tenant", help="Tenant slug")
        scope.add_argument("--global", dest="is_global", action="store_true")
        parser.add_argument("--v2", default="", help="HL7 v2 coding system name (CWE-3), e.g. LN or 99LAB")
        parser.add_argument("--system-version", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_id = get_tenant(slug=options["tenant"]).id if options["tenant"] else None
        system = services.ensure_code_system(
            uri=options["uri"],
            name=options["name"],
            tenant_id=tenant_id,
            v2_identifier=options["v2"],
            version=options["system_version"],
        )
        self.stdout.write(f"Code system {system.uri} ({system.name}) is registered.")
