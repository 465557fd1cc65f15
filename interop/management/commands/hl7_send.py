from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from interop.errors import MLLPError
from interop.v2 import mllp


class Command(BaseCommand):
    help = "Send HL7 v2 message files to an MLLP listener (ours or a lab's) and print each ACK."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="Files with one HL7 v2 message each (CR, LF or CRLF)")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2575)
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args: Any, **options: Any) -> None:
        for name in options["files"]:
            path = Path(name)
            try:
                text = path.read_bytes().decode("utf-8-sig")
            except OSError as exc:
                raise CommandError(f"Cannot read {name}: {exc.strerror}.") from exc
            except UnicodeDecodeError as exc:
                raise CommandError(f"{name} is not UTF-8 text.") from exc
            message = "\r".join(line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line)
            try:
                ack = mllp.send(options["host"], options["port"], message + "\r", timeout=options["timeout"])
            except MLLPError as exc:
                raise CommandError(f"{name}: {exc}") from exc
            self.stdout.write(f"{name}:\n  " + ack.strip("\r").replace("\r", "\n  "))
