"""A plain server-sent-events client for tests that hold many streams open at once: one socket
per stream, HTTP/1.1, the events parsed as they come (``id``, ``event``, parsed ``data``), and
comments kept apart."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class SSEStream:
    sock: socket.socket
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    closed: bool = False
    _buffer: bytes = b""  # bytes received, not yet taken apart
    _pending: bytes = b""  # body, not yet a whole event
    _chunked: bool = False

    def read(self, *, until: int = 0, comment: str = "", timeout: float = 10.0) -> SSEStream:
        """Read until ``until`` events have come (or a comment starting with ``comment``), the
        stream ends, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if until and len(self.events) >= until:
                break
            if comment and any(c.startswith(comment) for c in self.comments):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                self.closed = True
            self._feed(data)
        return self

    def close(self) -> None:
        self.sock.close()

    def _feed(self, data: bytes) -> None:
        self._buffer += data
        if not self.status:
            if b"\r\n\r\n" not in self._buffer:
                return
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            self._chunked = "chunked" in self.headers.get("transfer-encoding", "")
        body = self._dechunk() if self._chunked else self._take_all()
        self._parse(body)

    def _take_all(self) -> bytes:
        body, self._buffer = self._buffer, b""
        return body

    def _dechunk(self) -> bytes:
        out = b""
        while b"\r\n" in self._buffer:
            size_line, rest = self._buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.closed = True
                self._buffer = b""
                break
            if len(rest) < size + 2:
                break
            out += rest[:size]
            self._buffer = rest[size + 2 :]
        return out

    def _parse(self, body: bytes) -> None:
        self._pending += body
        while b"\n\n" in self._pending:
            block, self._pending = self._pending.split(b"\n\n", 1)
            event: dict[str, Any] = {}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line.startswith("id: "):
                    event["id"] = int(line[4:])
                elif line.startswith("event: "):
                    event["event"] = line[7:]
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
            if event:
                self.events.append(event)


def open_stream(url: str, headers: dict[str, str] | None = None, *, timeout: float = 10.0) -> SSEStream:
    """Send ``GET url`` and read the status line and headers (and whatever came with them)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    stream = SSEStream(sock)
    deadline = time.monotonic() + timeout
    while not stream.status and not stream.closed and time.monotonic() < deadline:
        data = sock.recv(65536)
        stream.closed = not data
        stream._feed(data)
    return stream
