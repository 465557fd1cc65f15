"""Development launcher behind ``make run`` and ``make test``.

    python scripts/dev.py exec -- CMD ...     run CMD with the database ready (DATABASE_URL set)
    python scripts/dev.py run --port N --mllp-port N --web CMD --stream CMD --front CMD --worker CMD
                              --beat CMD --sweeper CMD --mllp CMD
                                              the whole product; Ctrl-C stops all of it
    python scripts/dev.py stop-db             stop the embedded PostgreSQL

This is the one place that starts a database. The database is ``DATABASE_URL`` when set, else an
embedded PostgreSQL under ``.data/pg``, started here (and stopped again on exit if this command
started it); either way the database is created if missing and the commands run here get its
``DATABASE_URL``. The settings (``config/settings.py``) only read ``DATABASE_URL``: a command run
without it and without this launcher fails, saying so. The process commands come from the
Makefile, which docker-compose.yml mirrors: the front (HAProxy, the one origin), the request
workers (gunicorn) and the stream server (uvicorn) behind it, the MLLP listener, and the Celery
worker and beat (or the sweeper, when Redis is down). Each runs in the foreground as a child of
this launcher.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import devdb  # scripts/devdb.py, next to this file (it imports nothing from the project)

ROOT = Path(__file__).resolve().parent.parent

PYTHON = sys.executable


def say(message: str) -> None:
    print(f"[clinic] {message}", flush=True)


def prepare_database() -> tuple[str, bool]:
    """Return (url, started_here)."""
    url = os.environ.get("DATABASE_URL")
    started = False
    if not url:
        was_running = (devdb.EMBEDDED_PGDATA / "postmaster.pid").exists()
        say("DATABASE_URL is not set: using the embedded PostgreSQL under .data/pg")
        url = devdb.embedded_url()
        started = not was_running
    devdb.ensure_database(url)
    os.environ["DATABASE_URL"] = url
    (ROOT / ".data" / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise's STATIC_ROOT
    return url, started


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:
        return False


def manage(*args: str) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def cmd_exec(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        say("exec needs a command")
        return 2
    _url, started_db = prepare_database()
    try:
        return subprocess.call(argv, cwd=ROOT)
    finally:
        if started_db:
            devdb.stop_embedded()


def cmd_run(options: argparse.Namespace) -> int:
    _url, started_db = prepare_database()
    redis_url = os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    eager = not redis_answers(redis_url)
    if eager:
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
        say(f"Redis does not answer at {redis_url}: tasks run EAGERLY inside the web process,")
        say("no Celery worker or beat is started, and a sweeper process re-delivers missed events;")
        say("live streams answer 503 until Redis is back.")
    if os.environ.setdefault("DJANGO_DEBUG", "1") == "1":
        say("DJANGO_DEBUG=1: development error pages are on (set DJANGO_DEBUG=0 to turn them off)")
    manage("migrate", "--noinput")
    manage("setup_demo")
    manage("seed_demo", "--tenant", "demo")

    commands = [("web", options.web), ("stream", options.stream), ("front", options.front), ("mllp", options.mllp)]
    commands += [("sweeper", options.sweeper)] if eager else [("worker", options.worker), ("beat", options.beat)]
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for name, command in commands:
            say(f"starting {name}: {command}")
            # Own session per child: Ctrl-C reaches us once, and we stop each group cleanly.
            children[name] = subprocess.Popen(shlex.split(command), cwd=ROOT, start_new_session=True)
        say(
            f"serving at http://127.0.0.1:{options.port}  (admin: /admin/, API docs: /api/docs/)"
            "  Ctrl-C stops everything"
        )
        say(
            f"HL7 v2 over MLLP at 127.0.0.1:{options.mllp_port}, over HTTP at POST /hl7/v2"
            " (lab partner 'Demo Lab', MSH-4 DEMOLAB)"
        )
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    say(f"{name} exited with status {child.returncode}; stopping the rest")
                    stopping = True
            time.sleep(0.5)
    finally:
        for name, child in children.items():
            if child.poll() is None:
                say(f"stopping {name}")
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        if started_db:
            say("stopping the embedded PostgreSQL")
            devdb.stop_embedded()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--port", type=int, default=8000, help="the front's port (for the banner)")
    run.add_argument("--mllp-port", type=int, default=2575, help="the MLLP listener's port (for the banner)")
    for name in ("web", "stream", "front", "worker", "beat", "sweeper", "mllp"):
        run.add_argument(f"--{name}", required=True)
    sub.add_parser("exec")
    sub.add_parser("stop-db")
    options, rest = parser.parse_known_args()
    if options.command == "exec":
        return cmd_exec(rest)
    if options.command == "stop-db":
        say("stopped the embedded PostgreSQL" if devdb.stop_embedded() else "the embedded PostgreSQL was not running")
        return 0
    return cmd_run(options)


if __name__ == "__main__":
    sys.exit(main())
