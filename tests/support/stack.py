"""The served stack as ``make run`` runs it, for tests: the front (HAProxy, ``deploy/haproxy.cfg``),
the request workers (gunicorn, ``deploy/gunicorn.conf.py``) and the stream server (uvicorn,
``config.streams``), each a real process on a free port, against this run's test database and
queue namespace, reaching Redis through the test proxy."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def haproxy() -> str:
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(found).exists():
        raise RuntimeError("HAProxy is not installed: `make setup` installs it (Debian package haproxy)")
    return found


def with_application_name(url: str, name: str) -> str:
    """The database URL with an ``application_name`` (pg_stat_activity shows whose a session is)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "application_name"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("application_name", name)])))


@dataclass
class Stack:
    url: str  # the front: the one origin
    stream_url: str  # the stream server, directly
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for name in self.processes:
            path = self.logs / f"{name}.log"
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            out.append(f"--- {name} ---\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_stack(*, database_url: str, env: dict[str, str], logs: Path, web_workers: int = 2) -> Stack:
    """Start the three processes and wait until the front reaches both servers."""
    logs.mkdir(parents=True, exist_ok=True)
    front, streams = free_port(), free_port()
    web = logs / "web.sock"  # as the Makefile: the front reaches the workers on a Unix socket
    base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "CLINIC_LOG_LEVEL": "WARNING",
        "CLINIC_WEB_LOG_LEVEL": "warning",
        "CLINIC_WEB_WORKERS": str(web_workers),
        **env,
    }
    base.pop("CELERY_TASK_ALWAYS_EAGER", None)
    commands = {
        "web": (
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", f"unix:{web}",
             "config.wsgi"],
            {"DATABASE_URL": with_application_name(database_url, "clinic-web")},
        ),
        "stream": (
            [sys.executable, "-m", "uvicorn", "config.streams:application", "--host", "127.0.0.1", "--port",
             str(streams), "--no-access-log", "--log-level", "warning"],
            {"DATABASE_URL": with_application_name(database_url, "clinic-stream")},
        ),
        "front": (
            [haproxy(), "-W", "-db", "-f", "deploy/haproxy.cfg"],
            {
                "CLINIC_FRONT_BIND": f"127.0.0.1:{front}",
                "CLINIC_WEB_ADDR": f"unix@{web}",
                "CLINIC_STREAM_ADDR": f"127.0.0.1:{streams}",
            },
        ),
    }  # fmt: skip
    stack = Stack(
        url=f"http://127.0.0.1:{front}",
        stream_url=f"http://127.0.0.1:{streams}",
        logs=logs,
    )
    try:
        for name, (argv, extra) in commands.items():
            with open(logs / f"{name}.log", "wb") as log:
                stack.processes[name] = subprocess.Popen(
                    argv, cwd=ROOT, env={**base, **extra}, stdout=log, stderr=subprocess.STDOUT
                )
        _wait_ready(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def _wait_ready(stack: Stack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for name, process in stack.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{stack.log_tail()}")
        try:
            health = httpx.get(f"{stack.url}/healthz", timeout=2)
            # Through the front to the stream server: it answers unknown streams itself.
            stream = httpx.get(f"{stack.url}/ready/stream", timeout=2)
            if health.status_code == 200 and stream.status_code == 404 and "No stream" in stream.text:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the served stack did not start in {timeout:g} s:\n{stack.log_tail()}")
        time.sleep(0.1)
