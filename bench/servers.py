"""The servers the HTTP benchmarks start: the served stack as ``make run`` runs it (the front,
gunicorn, the stream server: ADR 7), and the references it is measured against, each a process
(group) of its own on 127.0.0.1, against a bench database.

- ``served``: HAProxy (``deploy/haproxy.cfg``) → gunicorn (``deploy/gunicorn.conf.py``, one worker
  per core, on a Unix socket) and the stream server (``config.streams``), as in the Makefile.
- ``reference``: plain gunicorn, the same number of processes, sync workers, no front (the
  issue's reference).
- ``asgi``: uvicorn serving Django's ASGI handler, 1 process with a pool of 16 connections: the
  shape before ADR 7 (``make run`` until issue 13), for the record.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bench.common import ROOT

SHAPES = ("served", "reference", "asgi")


class Ports:
    """Ports to listen on: consecutive ones from ``base``, or free ones the system picks (0)."""

    def __init__(self, base: int = 0) -> None:
        self.next = base

    def take(self) -> int:
        if self.next:
            port, self.next = self.next, self.next + 1
            return port
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


@dataclass
class Served:
    shape: str
    url: str  # where clients go (the front, for the served stack)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items()}


def workers() -> int:
    return int(os.environ.get("CLINIC_WEB_WORKERS") or os.cpu_count() or 2)


def haproxy() -> str:
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


def _commands(shape: str, ports: Ports) -> tuple[str, dict[str, tuple[list[str], dict[str, str]]]]:
    py = sys.executable
    if shape == "reference":
        port = ports.take()
        argv = [py, "-m", "gunicorn", "--workers", str(workers()), "--bind", f"127.0.0.1:{port}",
                "--log-level", "warning", "--no-control-socket", "config.wsgi"]  # fmt: skip
        return f"http://127.0.0.1:{port}", {"web": (argv, {})}
    if shape == "asgi":
        port = ports.take()
        argv = [py, "-m", "uvicorn", "--factory", "django.core.asgi:get_asgi_application", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
        return f"http://127.0.0.1:{port}", {"asgi": (argv, {"CLINIC_DB_POOL_MAX": "16"})}
    assert shape == "served", shape
    front, stream = ports.take(), ports.take()
    # As the Makefile: the front reaches the workers on a Unix socket (BENCH_WEB_TCP=1: on TCP).
    web_bind, web_addr = f"unix:{ROOT}/.data/bench-web.sock", f"unix@{ROOT}/.data/bench-web.sock"
    if os.environ.get("BENCH_WEB_TCP"):
        web = ports.take()
        web_bind, web_addr = f"127.0.0.1:{web}", f"127.0.0.1:{web}"
    return f"http://127.0.0.1:{front}", {
        "web": (
            [py, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", web_bind, "config.wsgi"],
            {"CLINIC_WEB_LOG_LEVEL": "warning"},
        ),
        "stream": (
            [py, "-m", "uvicorn", "config.streams:application", "--host", "127.0.0.1", "--port", str(stream),
             "--no-access-log", "--log-level", "warning"],
            {},
        ),
        "front": (
            [haproxy(), "-W", "-db", "-f", "deploy/haproxy.cfg"],
            {
                "CLINIC_FRONT_BIND": f"127.0.0.1:{front}",
                "CLINIC_WEB_ADDR": web_addr,
                "CLINIC_STREAM_ADDR": f"127.0.0.1:{stream}",
            },
        ),
    }  # fmt: skip


@contextmanager
def serving(shape: str, database_url: str, ports: Ports, *, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start ``shape`` against ``database_url`` and yield it once it answers ``/healthz``."""
    url, commands = _commands(shape, ports)
    base = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CLINIC_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "0",
        **(env or {}),
    }
    for name in ("CELERY_TASK_ALWAYS_EAGER", "CLINIC_DB_POOL_MAX"):
        base.pop(name, None)
    served = Served(shape, url)
    logs: dict[str, IO[bytes]] = {}
    try:
        for name, (argv, extra) in commands.items():
            logs[name] = open(ROOT / ".data" / f"bench-{shape}-{name}.log", "wb")  # noqa: SIM115
            # pg_stat_activity tells whose each session is: application_name bench-<shape>-<process>.
            named = {"DATABASE_URL": _with_application_name(database_url, f"bench-{shape}-{name}")}
            served.processes[name] = subprocess.Popen(
                argv, cwd=ROOT, env={**base, **named, **extra}, stdout=logs[name], stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _wait(served)
        yield served
    finally:
        for process in served.processes.values():
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, 15)
        for process in served.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
        for log in logs.values():
            log.close()


def _with_application_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "application_name"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("application_name", name)])))


def _wait(served: Served, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for name, process in served.processes.items():
            if process.poll() is not None:
                log = (ROOT / ".data" / f"bench-{served.shape}-{name}.log").read_text(errors="replace")
                raise RuntimeError(f"{served.shape}: {name} exited: {log[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{served.shape} did not answer /healthz in {timeout:g} s")
        time.sleep(0.2)


def worker_pids(served: Served) -> list[int]:
    """The request-serving processes (gunicorn's workers, or uvicorn itself)."""
    parent = served.processes.get("web") or served.processes.get("asgi")
    assert parent is not None
    if served.shape == "asgi":
        return [parent.pid]
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError), open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == parent.pid:
                    found.append(int(entry))
    return found
