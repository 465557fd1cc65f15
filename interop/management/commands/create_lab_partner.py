from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.contracts import DomainError
from clinic.facade import get_tenant
from interop import services
from interop.v2 import charsets
from interop.v2.order_profiles import DEFAULT_PROFILE, profiles


class Command(BaseCommand):
    help = "Register a lab partner of a tenant: the lab its orders go to (over MLLP) and results come from."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--name", required=True, help="e.g. 'Acme Lab'")
        parser.add_argument("--facility", required=True, help="Their facility (MSH-4 of their messages)")
        parser.add_argument("--application", default="", help="Their application (MSH-3 of their messages)")
        parser.add_argument("--mllp-host", default="", help="Where to send orders")
        parser.add_argument("--mllp-port", type=int, help="Where to send orders")
        parser.add_argument(
            "--charset",
            default=charsets.DEFAULT,
            help=f"Character set of their messages without MSH-18 (HL7 table 0211; default {charsets.DEFAULT!r})",
        )
        parser.add_argument(
            "--unsolicited-results",
            choices=["hold", "chart"],
            default="hold",
            help="A result whose order is not found: hold it for review (default), or chart it without an order",
        )
        parser.add_argument(
            "--outbound-profile",
            default=DEFAULT_PROFILE,
            choices=sorted(profiles()),
            help=f"The shape of the order messages it takes (interop/v2/profiles/; default {DEFAULT_PROFILE})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            partner = services.create_lab_partner(
                tenant_id=get_tenant(slug=options["tenant"]).id,
                name=options["name"],
                facility=options["facility"],
                application=options["application"],
                mllp_host=options["mllp_host"],
                mllp_port=options["mllp_port"],
                charset=options["charset"],
                unsolicited_results=options["unsolicited_results"],
                outbound_profile=options["outbound_profile"],
            )
        except DomainError as exc:
            raise CommandError(exc.describe()) from exc
        where = (
            f"{partner.mllp_host}:{partner.mllp_port}" if partner.mllp_port else "no MLLP address (orders are not sent)"
        )
        self.stdout.write(self.style.SUCCESS(f"Lab partner {partner.name} ({partner.facility}), orders to {where}."))
