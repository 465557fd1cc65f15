from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from clinic.facade import get_tenant
from terminology import demo


class Command(BaseCommand):
    help = "Give a tenant the demo lab catalogue, mapped to LOINC and to fee codes (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="demo")

    def handle(self, *args: Any, **options: Any) -> None:
        for line in demo.seed(tenant_id=get_tenant(slug=options["tenant"]).id):
            self.stdout.write(line)
