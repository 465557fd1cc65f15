from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.contracts import DomainError
from clinic.facade import get_tenant
from terminology import services


class Command(BaseCommand):
    help = (
        "Load a concept map version from a CSV file (format: docs/terminology.md). Loading the "
        "same file again under the same version changes nothing. A file with any bad row loads "
        "nothing and every problem is printed with its line number."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # Django's own --version (print Django's version) gives way to the map version label.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file")
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--tenant", help="Tenant slug: a map of that tenant only")
        scope.add_argument("--global", dest="is_global", action="store_true", help="A map for every tenant")
        parser.add_argument("--version", dest="map_version", required=True, help="Version label, e.g. 2026-11")
        parser.add_argument("--name", help="Map name (default: the file name without extension)")
        parser.add_argument("--url", default="", help="Canonical URL of the map")
        parser.add_argument("--title", default="")
        parser.add_argument("--draft", action="store_true", help="Load without publishing (publish in admin)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            tenant_id = get_tenant(slug=options["tenant"]).id if options["tenant"] else None
            result = services.load_concept_map(
                data=path.read_bytes(),
                map_name=options["name"] or path.stem.lower().replace("_", "-").replace(" ", "-"),
                version=options["map_version"],
                tenant_id=tenant_id,
                url=options["url"],
                title=options["title"],
                publish_now=not options["draft"],
            )
        except DomainError as exc:
            raise CommandError(exc.describe()) from exc
        if not result.created:
            self.stdout.write(
                f"{result.map_name} version {result.version} is already loaded ({result.entries} entries)."
            )
            return
        state = "published" if result.published else "loaded as a draft"
        self.stdout.write(
            self.style.SUCCESS(f"{result.map_name} version {result.version}: {result.entries} entries, {state}.")
        )
