"""A small fake laboratory speaking MLLP: it records every message and answers an ACK."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

START, END = b"\x0b", b"\x1c\x0d"


class FakeLab:
    def __init__(self, port: int | None = None, *, answer: str = "AA", delay: float = 0.0) -> None:
        self.port = port or _free_port()
        self.answer = answer
        self.delay = delay  # seconds before each ACK: a slow lab
        self.received: list[str] = []
        self._listener: socket.socket | None = None

    def start(self) -> FakeLab:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while END in buffer:
                    raw, buffer = buffer.split(END, 1)
                    message = raw[raw.index(START) + 1 :].decode()
                    self.received.append(message)
                    control_id = message.split("\r")[0].split("|")[9]
                    header = f"MSH|^~\\&|LAB|ACME|CLINIC|DEMO|20260101000000||ACK^O01|A{control_id}|P|2.5"
                    ack = f"{header}\rMSA|{self.answer}|{control_id}|"
                    if self.answer != "AA":
                        ack += "Unknown test code"
                    time.sleep(self.delay)
                    conn.sendall(START + ack.encode() + END)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
