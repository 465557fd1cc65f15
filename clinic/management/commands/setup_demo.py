from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from clinic import services


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo tenant with a site, a demo admin, a demo clinician and a demo "
        "API client, and print their credentials. Safe to run repeatedly: each run rotates the "
        "demo API client's token and prints the new one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="demo", help="Tenant slug (default: demo)")
        parser.add_argument(
            "--password",
            default=os.environ.get("CLINIC_DEMO_PASSWORD", "demo-password"),
            help="Password of the demo users (default: $CLINIC_DEMO_PASSWORD or 'demo-password')",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug, password = options["tenant"], options["password"]
        tenant, token = services.set_up_demo_tenant(slug=slug, password=password)
        self.stdout.write(
            "\n".join(
                [
                    f"Demo tenant: {tenant.slug} ({tenant.name})",
                    f"  admin:     {slug}-admin / {password}   (Django admin at /admin/)",
                    f"  clinician: {slug}-clinician / {password}   (the web app at /)",
                    f"  front desk: {slug}-desk / {password}",
                    f"  API client {services.DEMO_CLIENT_NAME}, token (rotated on every run):",
                    f"  {token}",
                ]
            )
        )
