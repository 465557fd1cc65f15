from __future__ import annotations

from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser

from clinic import catalogue


class Command(BaseCommand):
    help = (
        "Print the event catalogue (every event type, its producer, version, payload fields, how it reads "
        "on a timeline, its subscribers), generated from the event registry; --output writes it to a file "
        "(docs/events.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, help="Write the catalogue here instead (e.g. docs/events.md)")

    def handle(self, *args: Any, **options: Any) -> None:
        text = catalogue.render(apps=catalogue.product_apps([config.name for config in apps.get_app_configs()]))
        if options["output"] is None:
            self.stdout.write(text, ending="")
        else:
            options["output"].write_text(text)
            self.stdout.write(f"Wrote {options['output']}")
