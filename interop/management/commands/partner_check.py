"""``manage.py partner_check --tenant T --partner P FILE...``: a lab partner's sample messages
through the real intake, in a transaction rolled back: for each, the ACK the lab would get and
what a clinician would see (``interop.v2.check``). Nothing is written or sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.contracts import NotFound
from clinic.facade import get_tenant
from interop.models import LabPartner
from interop.v2.check import Overrides, check_messages
from interop.v2.order_profiles import profiles


class Command(BaseCommand):
    help = (
        "Dry-run a lab partner's sample messages through the real intake (rolled back: nothing is written or sent) "
        "and print, for each, the ACK it would get and what it would chart."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--partner", required=True, help="The lab partner's name or facility (MSH-4)")
        parser.add_argument("files", nargs="+", type=Path, help="HL7 v2 message files, delivered in this order")
        parser.add_argument("--json", action="store_true", help="Print the projections as JSON (as golden files hold)")
        parser.add_argument("--charset", help="Try another default character set (the partner keeps its own)")
        parser.add_argument(
            "--unsolicited-results", choices=["hold", "chart"], help="Try holding or charting unsolicited results"
        )
        parser.add_argument("--outbound-profile", choices=sorted(profiles()), help="Try another outbound profile")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = get_tenant(slug=options["tenant"])
        except NotFound as exc:
            raise CommandError(f"No tenant {options['tenant']!r}.") from exc
        partner = self._partner(tenant.id, options["partner"])
        messages = []
        for path in options["files"]:
            try:
                messages.append((path.name, path.read_bytes()))
            except OSError as exc:
                raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        overrides = Overrides(
            charset=options["charset"],
            unsolicited_results=options["unsolicited_results"],
            outbound_profile=options["outbound_profile"],
        )
        try:
            projections = check_messages(
                tenant_id=tenant.id, partner_id=partner.pk, messages=messages, overrides=overrides
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(projections, indent=2, ensure_ascii=False))
            return
        self.stdout.write(f"Dry run for {partner.name} ({partner.facility}) of {tenant.slug}: nothing is kept.\n")
        for projection in projections:
            self.stdout.write(render(projection))

    def _partner(self, tenant_id: int, name: str) -> LabPartner:
        found = list(LabPartner.objects.filter(tenant_id=tenant_id, name=name)) or list(
            LabPartner.objects.filter(tenant_id=tenant_id, facility__iexact=name)
        )
        if len(found) != 1:
            known = ", ".join(LabPartner.objects.filter(tenant_id=tenant_id).values_list("name", flat=True)) or "none"
            raise CommandError(f"No single lab partner {name!r} in this tenant (partners: {known}).")
        return found[0]


def render(projection: dict[str, Any], indent: int = 0) -> str:
    """A projection as indented text, one value a line."""
    lines: list[str] = []

    def walk(value: Any, depth: int, key: str = "") -> None:
        pad = "  " * depth
        label = f"{key}: " if key else "- "
        if isinstance(value, dict):
            if key:
                lines.append(f"{pad}{key}:")
            for k, v in value.items():
                if v not in (None, [], {}, ""):
                    walk(v, depth + (1 if key else 0), k)
        elif isinstance(value, list):
            lines.append(f"{pad}{key}:")
            for item in value:
                if isinstance(item, dict):
                    lines.append(f"{pad}  -")
                    walk(item, depth + 2)
                else:
                    lines.append(f"{pad}  - {item}")
        else:
            lines.append(f"{pad}{label}{value}")

    walk(projection, indent)
    return "\n".join(lines) + "\n\n"
