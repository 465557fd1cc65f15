from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def child_database_url() -> str:
    """A DATABASE_URL for a child process (a worker, a listener) that reaches this run's test
    database: the URL the project uses (TCP, or the embedded server's socket) with the test
    database's name."""
    from urllib.parse import urlsplit, urlunsplit

    from django.conf import settings
    from django.db import connection

    return urlunsplit(urlsplit(settings.DATABASE_URL)._replace(path="/" + connection.settings_dict["NAME"]))
