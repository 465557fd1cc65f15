"""The MLLP listener (HL7 v2.5.1 appendix C, minimal lower layer protocol): persistent
connections, many messages per connection, many connections at once.

Framing is ``mllp.FrameReader``'s (TCP may split a frame across reads or put several frames in
one read). Each connection's messages are processed in order, one ACK
each, in a thread pool (the domain code is synchronous Django); connections do not wait for
each other. A connection that sends garbage gets AR answers and keeps its place; a connection
that misbehaves at the TCP level is closed without disturbing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from interop.models import InboundMessage
from interop.v2 import intake, mllp, store

logger = logging.getLogger("interop.mllp")


class AckRecorder:
    """Writes the 'acknowledged at' times in batches (one UPDATE a batch), off the ACK path."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._pending: list[tuple[int, datetime]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mllp-ack-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, message_id: int, at: datetime) -> None:
        with self._lock:
            self._pending.append((message_id, at))

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            try:
                store.mark_acknowledged(batch)
            except Exception:
                logger.exception("mllp.ack_record_failed count=%s", len(batch))
            finally:
                close_old_connections()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
        self.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Listener:
    """An asyncio MLLP server. ``serve_forever`` runs it; ``start_in_thread`` runs it in a
    background thread (tests, benchmarks) and returns once it listens."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 2575, *, workers: int = 8, sock: socket.socket | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.sock = sock  # an already listening socket (shared by the processes of serve_processes)
        self.workers = workers
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mllp")
        self.acks = AckRecorder()
        self.server: asyncio.AbstractServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connections = 0
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- Processing ---------------------------------------------------------------------------

    def _process(self, payload: bytes, peer: str, size: int) -> tuple[bytes, tuple[int, ...]]:
        try:
            receipt = intake.receive(raw=payload, transport=InboundMessage.Transport.MLLP, peer=peer, size=size)
        finally:
            self._recycle_connection()
        return receipt.ack_bytes(), receipt.message_ids

    _checked = threading.local()

    def _recycle_connection(self) -> None:
        """What Django does between requests (drop a broken or too old connection), but at most
        once a second per thread unless a database error occurred: each check makes the next
        query pay a health-check round trip, and a lab sends many messages a second."""
        from django.db import connection

        if not connection.settings_dict.get("CONN_MAX_AGE"):
            connection.close()  # no persistent connections configured: one per message, as Django does
            return
        now = time.monotonic()
        if connection.errors_occurred or now - getattr(self._checked, "at", 0.0) > 1.0:
            close_old_connections()
            self._checked.at = now

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_info = writer.get_extra_info("peername")
        peer = f"{peer_info[0]}:{peer_info[1]}" if peer_info else "unknown"
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        loop = asyncio.get_running_loop()
        frames = mllp.FrameReader(limit=settings.CLINIC_HL7_STORE_BYTES, peer=peer)
        try:
            while data := await reader.read(65536):
                frames.feed(data)
                while (frame := frames.next()) is not None:
                    ack, message_ids = await loop.run_in_executor(
                        self.executor, self._process, frame.payload, peer, frame.size
                    )
                    writer.write(mllp.frame_bytes(ack))
                    await writer.drain()
                    acknowledged_at = timezone.now()
                    for message_id in message_ids:  # one, or each message of a batch
                        self.acks.add(message_id, acknowledged_at)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            logger.info("mllp.connection_lost peer=%s error=%s", peer, type(exc).__name__)
        except Exception:
            logger.exception("mllp.connection_failed peer=%s", peer)
        finally:
            self.connections -= 1
            if task is not None:
                self._tasks.discard(task)
            try:
                writer.close()
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    # --- Running ------------------------------------------------------------------------------

    async def _start(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self.sock is not None:
            self.server = await asyncio.start_server(self._handle, sock=self.sock, limit=2**20)
        else:
            self.server = await asyncio.start_server(
                self._handle, self.host, self.port, limit=2**20, reuse_address=True, backlog=256
            )
        sockets = list(self.server.sockets)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.acks.start()
        logger.info("mllp.listening host=%s port=%s workers=%s", self.host, self.port, self.workers)

    async def _serve(self, ready: Callable[[], None] | None = None) -> None:
        await self._start()
        if ready is not None:
            ready()
        assert self.server is not None
        async with self.server:
            await self.server.serve_forever()

    def serve_forever(self) -> None:
        try:
            asyncio.run(self._serve())
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass
        finally:
            self.acks.stop()
            self.executor.shutdown(wait=True)

    def start_in_thread(self) -> Listener:
        started = threading.Event()

        def run() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                asyncio.run(self._serve(started.set))

        self._thread = threading.Thread(target=run, name="mllp-listener", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the MLLP listener did not start")
        return self

    def stop(self) -> None:
        if self.loop is not None and self.server is not None:
            server, loop = self.server, self.loop

            async def shut() -> None:
                server.close()
                for task in list(self._tasks):
                    task.cancel()

            asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.executor.shutdown(wait=True)
        self.acks.stop()


def _interrupt(*_args: object) -> None:
    raise KeyboardInterrupt


def serve_processes(host: str, port: int, *, processes: int, workers: int) -> None:
    """Serve from ``processes`` processes sharing one listening socket (the kernel hands each
    new connection to one of them): the domain code holds the GIL, so one process uses one
    core. A connection stays with its process, so its messages keep their order. The parent
    stops every child on SIGINT or SIGTERM, and stops them all if one dies."""
    from django.db import connections

    if processes <= 1:
        Listener(host, port, workers=workers).serve_forever()
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(256)
    sock.setblocking(False)
    connections.close_all()  # children open their own database connections
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # the child
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C: ACK times are flushed
            try:
                Listener(host, port, workers=workers, sock=sock).serve_forever()
            finally:
                os._exit(0)
        children.append(pid)
    logger.info("mllp.processes started=%s port=%s", len(children), port)
    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                logger.error("mllp.process_exited pid=%s", pid)
                break
            time.sleep(0.5)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        sock.close()
