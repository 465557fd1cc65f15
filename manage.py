#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from config.database import DatabaseUnreachable, check_reachable, describe_failure
    from config.no_database.base import DatabaseNotConfigured

    command = os.path.basename(sys.argv[0])
    try:
        check_reachable()
        execute_from_command_line(sys.argv)
    except (DatabaseNotConfigured, DatabaseUnreachable) as exc:
        sys.exit(f"{command}: {exc}")
    except Exception as exc:
        # A missing database or a server that is down: one sentence that says what to do, not
        # a traceback (anything else is a real error and keeps its traceback).
        reason = describe_failure(exc)
        if reason is None:
            raise
        sys.exit(f"{command}: {reason}")


if __name__ == "__main__":
    main()
