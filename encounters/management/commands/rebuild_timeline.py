from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from encounters import selectors, services


class Command(BaseCommand):
    help = (
        "Rebuild encounter timelines from the event outbox and report every difference found "
        "(there should be none). Exits with status 1 when differences were found (and repaired)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--encounter", help="Encounter UUID")
        which.add_argument("--all", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["encounter"]:
            try:
                ids = [uuid.UUID(options["encounter"])]
            except ValueError as exc:
                raise CommandError(f"Not an encounter ID: {options['encounter']!r}") from exc
            if not selectors.encounter_exists(encounter_id=ids[0]):
                raise CommandError(f"No encounter {ids[0]}.")
        else:
            ids = selectors.every_encounter_id()
        differing = 0
        for encounter_id in ids:  # one transaction per encounter (the use case commits)
            diff = services.rebuild_timeline(encounter_id=encounter_id)
            if any(diff.values()):
                differing += 1
                found = f"{diff['missing']} missing, {diff['extra']} extra, {diff['changed']} changed"
                self.stdout.write(f"{encounter_id}: {found} (repaired)")
        self.stdout.write(f"Rebuilt {len(ids)} timeline(s); {differing} differed from the outbox.")
        if differing:
            raise SystemExit(1)
