"""MLLP framing (HL7 v2 minimal lower layer protocol, HL7 v2.5.1 appendix C): a message is sent
as <VT> message <FS><CR>; one ACK comes back the same way."""

from __future__ import annotations

import socket

START = b"\x0b"
END = b"\x1c\x0d"


class MLLPError(Exception):
    """The peer could not be reached, or answered outside the protocol."""


def frame(message: str) -> bytes:
    return START + message.encode("utf-8") + END


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
