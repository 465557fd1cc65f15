"""MLLP framing (HL7 v2 minimal lower layer protocol, HL7 v2.5.1 appendix C): a message is sent
as <VT> message <FS><CR>; one ACK comes back the same way. ``FrameReader`` takes frames out of
a byte stream as a listener receives it; ``send`` is a client's one exchange.

TCP may split a frame across reads or put several frames in one read, and both are handled.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from interop.errors import MLLPError

logger = logging.getLogger("interop.mllp")

VT, FS, CR = 0x0B, 0x1C, 0x0D
START = b"\x0b"
END = b"\x1c\x0d"


def frame(message: str) -> bytes:
    return frame_bytes(message.encode("utf-8"))


def frame_bytes(payload: bytes) -> bytes:
    return START + payload + END


@dataclass(frozen=True, slots=True)
class Frame:
    """One message taken out of the stream: its bytes (at most the reader's limit) and its
    real size (more when the rest was dropped)."""

    payload: bytes
    size: int


class FrameReader:
    """The frames of one connection's byte stream, in order. Bytes between frames (a stray CR,
    noise) are not a message and are dropped. A start block before the current frame ended
    means the sender gave up on that frame (it had no ACK and will resend): the new frame
    starts there. A frame longer than ``limit`` keeps its start; the rest is counted, not kept."""

    def __init__(self, *, limit: int, peer: str = "") -> None:
        self.limit = limit
        self.peer = peer
        self._buffer = bytearray()
        self._in_frame = False
        self._overflow = 0  # bytes of the current frame dropped past the limit
        self._scanned = 0  # bytes of the current frame already searched for VT/FS (no rescans)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next(self) -> Frame | None:
        """The next complete frame, or None until more bytes are fed."""
        buffer = self._buffer
        while True:
            if not self._in_frame and not self._start():
                return None
            restart = buffer.find(VT, self._scanned)
            end = buffer.find(FS, self._scanned)
            if 0 <= restart < (end if end >= 0 else len(buffer)):
                logger.warning("mllp.frame_abandoned peer=%s bytes=%s", self.peer, restart)
                del buffer[: restart + 1]
                self._overflow = 0
                self._scanned = 0
                continue
            if end < 0:
                self._keep_start()
                return None
            return self._take(end)

    def _start(self) -> bool:
        """Skip to the next start block; False when there is none yet."""
        start = self._buffer.find(VT)
        if start < 0:
            self._buffer.clear()
            return False
        del self._buffer[: start + 1]
        self._in_frame = True
        self._overflow = 0
        self._scanned = 0
        return True

    def _keep_start(self) -> None:
        """No end block yet: keep at most ``limit`` bytes of the frame, count the rest."""
        if len(self._buffer) > self.limit:
            self._overflow += len(self._buffer) - self.limit
            del self._buffer[self.limit :]
        self._scanned = len(self._buffer)

    def _take(self, end: int) -> Frame:
        buffer = self._buffer
        payload = bytes(buffer[:end])
        del buffer[: end + 1]
        self._scanned = 0
        if buffer[:1] == bytes([CR]):
            del buffer[:1]
        self._in_frame = False
        if self._overflow:
            logger.warning("mllp.frame_truncated peer=%s dropped=%s", self.peer, self._overflow)
        return Frame(payload=payload, size=len(payload) + self._overflow)


def send(host: str, port: int, message: str, *, timeout: float = 10.0) -> str:
    """Send one message and return the framed answer's content (the ACK). Raises MLLPError."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(frame(message))
            buffer = b""
            while END not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise MLLPError("the peer closed the connection before acknowledging")
                buffer += chunk
    except OSError as exc:
        raise MLLPError(f"{type(exc).__name__}: {exc}") from exc
    start = buffer.find(START)
    if start < 0:
        raise MLLPError("the answer is not MLLP-framed")
    return buffer[start + 1 : buffer.index(END)].decode("utf-8", errors="replace")


def ack_status(ack: str, control_id: str) -> tuple[str, str]:
    """(MSA-1 acknowledgment code, text) of an ACK for ``control_id``. Raises MLLPError when the
    ACK acknowledges another message or has no MSA."""
    for segment in ack.replace("\n", "\r").split("\r"):
        fields = segment.split("|")
        if fields[0] == "MSA":
            code = fields[1] if len(fields) > 1 else ""
            acknowledged = fields[2] if len(fields) > 2 else ""
            text = fields[3] if len(fields) > 3 else ""
            if acknowledged != control_id:
                raise MLLPError(f"the ACK is for message {acknowledged!r}, not {control_id!r}")
            return code, text
    raise MLLPError("the answer has no MSA segment")
