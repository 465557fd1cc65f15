from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from interop.v2.listener import serve_processes


class Command(BaseCommand):
    help = (
        "Listen for HL7 v2 messages over MLLP (ORU^R01 results, ADT^A01/A04/A08/A40) and answer each "
        "with its ACK once it is charted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=2575, help="Port to listen on (default 2575)")
        parser.add_argument("--workers", type=int, default=8, help="Messages processed at once per process (default 8)")
        parser.add_argument(
            "--processes", type=int, default=1, help="Listener processes sharing the port, one core each (default 1)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["port"] < 65536:
            raise CommandError("--port must be 1 to 65535.")
        if not 0 < options["workers"] <= 64:
            raise CommandError("--workers must be 1 to 64.")
        if not 0 < options["processes"] <= 16:
            raise CommandError("--processes must be 1 to 16.")
        logging.getLogger("interop.mllp").setLevel(logging.INFO)
        self.stdout.write(
            f"MLLP listener on {options['host']}:{options['port']}, {options['processes']} process(es) "
            "(Ctrl-C stops it)"
        )
        try:
            serve_processes(
                options["host"], options["port"], processes=options["processes"], workers=options["workers"]
            )
        except OSError as exc:
            raise CommandError(f"Cannot listen on {options['host']}:{options['port']}: {exc}") from exc
