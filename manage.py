#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from config.no_database.base import DatabaseNotConfigured

    try:
        execute_from_command_line(sys.argv)
    except DatabaseNotConfigured as exc:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {exc}")


if __name__ == "__main__":
    main()
