from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from clinic import outbox


class Command(BaseCommand):
    help = (
        "Dispatch outbox events that were not delivered in time (broker down at commit, worker "
        "killed). Celery beat runs this every 5 seconds; run it by hand, or with --loop when "
        "there is no beat (tasks running eagerly)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep sweeping until interrupted")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between sweeps with --loop")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            count = outbox.sweep_outbox()
            if count or not options["loop"]:
                self.stdout.write(f"Dispatched {count} undelivered events.")
            if not options["loop"]:
                return
            try:
                time.sleep(options["interval"])
            except KeyboardInterrupt:
                return
