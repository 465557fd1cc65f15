from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from clinic import services
from clinic.contracts import Role, Scope
from clinic.models import ApiClient, Site, Tenant

DEMO_CLIENT_SCOPES = [Scope.API_READ, Scope.API_WRITE, Scope.TENANT_ADMIN, Scope.HL7_SUBMIT, "system/*.read"]


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
        with transaction.atomic():
            tenant = Tenant.objects.filter(slug=slug).first() or services.create_tenant(slug=slug, name="Demo Clinic")
            if not Site.objects.filter(tenant=tenant, code="main").exists():
                services.create_site(tenant_id=tenant.pk, code="main", name="Demo Clinic, Main Street")
            services.add_member(
                tenant_id=tenant.pk, username=f"{slug}-admin", role=Role.ADMIN, password=password, is_staff=True
            )
            services.add_member(
                tenant_id=tenant.pk, username=f"{slug}-clinician", role=Role.CLINICIAN, password=password
            )
            existing = ApiClient.objects.filter(tenant=tenant, name="demo-integrator").first()
            if existing is None:
                _client, token = services.create_api_client(
                    tenant_id=tenant.pk, name="demo-integrator", scopes=[str(s) for s in DEMO_CLIENT_SCOPES]
                )
            else:
                _client, token = services.rotate_api_client_token(client_id=existing.pk)
        self.stdout.write(
            "\n".join(
                [
                    f"Demo tenant: {tenant.slug} ({tenant.name})",
                    f"  admin:     {slug}-admin / {password}   (Django admin at /admin/)",
                    f"  clinician: {slug}-clinician / {password}",
                    "  API client demo-integrator, token (rotated on every run):",
                    f"  {token}",
                ]
            )
        )
