"""Batches (HL7 v2.5.1 2.10.3): ``[FHS] { [BHS] { MSH ... } [BTS] } [FTS]`` in one MLLP frame or
one HTTP body. We take them (ADR 0010): each message of the batch is a delivery of its own
(stored raw, charted or refused, acknowledged, exactly as if sent alone), and the answer is a
batch of their ACKs in the same envelope (2.10.3.3): our FHS/BHS, whose FHS-12/BHS-12
(reference control ID) is the sender's FHS-11/BHS-11, one ACK per message in the order
received, and BTS/FTS with the counts.

Here: recognising and splitting a batch (bytes in, bytes of each message out, line ends as
sent), and building the answer. ``intake`` delivers the messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from interop.v2.ack import SENDING_APPLICATION, Problem, escape_components

ENVELOPE = ("FHS", "BHS", "BTS", "FTS")
_LINE = re.compile(rb"[^\r\n]+")
BOM = b"\xef\xbb\xbf"


def is_batch(raw: bytes) -> bool:
    """Does the payload start with a file or batch header (FHS/BHS) rather than an MSH?"""
    return raw.lstrip(BOM + b" \t\r\n")[:3] in (b"FHS", b"BHS")


@dataclass(slots=True)
class Envelope:
    """An FHS or BHS: fields as sent (text), read like an MSH's (FHS-1 is the separator)."""

    fields: list[str]
    separator: str = "^"  # of components (the first encoding character)

    @property
    def segment_id(self) -> str:
        return self.fields[0]

    def field(self, n: int) -> str:
        # fields[1] is FHS-2/BHS-2 (the encoding characters): FHS-n is fields[n - 1].
        return self.fields[n - 1].strip() if 1 < n <= len(self.fields) else ""

    def components(self, n: int) -> tuple[str, ...]:
        parts = [p.strip() for p in self.field(n).split(self.separator)]
        while parts and not parts[-1]:
            parts.pop()
        return tuple(parts)

    def component(self, n: int, c: int) -> str:
        parts = self.components(n)
        return parts[c - 1] if 0 < c <= len(parts) else ""

    @property
    def control_id(self) -> str:
        return self.field(11)  # FHS-11 file control ID / BHS-11 batch control ID


@dataclass(slots=True)
class Part:
    """One batch of the file (a BHS ... BTS, or the messages of a file without BHS)."""

    header: Envelope | None
    messages: list[bytes] = field(default_factory=list)
    declared: int | None = None  # BTS-1, the batch message count the sender declared


@dataclass(slots=True)
class Batch:
    file: Envelope | None
    parts: list[Part]

    @property
    def outer(self) -> Envelope | None:
        """The envelope that speaks for the whole: the FHS, else the first BHS."""
        return self.file or next((p.header for p in self.parts if p.header is not None), None)

    @property
    def messages(self) -> list[bytes]:
        return [m for p in self.parts for m in p.messages]


class BatchInvalid(Exception):
    """The envelope is broken (a segment outside any message, segments after the FTS...): the
    batch is refused whole (AR), its messages unread."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.text)
        self.problem = problem


def _envelope(line: bytes) -> Envelope:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = line.decode("latin-1")
    fields = text.split(text[3:4] or "|")
    separator = fields[1][:1] if len(fields) > 1 and fields[1] else "^"
    return Envelope(fields=fields, separator=separator)


def first_envelope(raw: bytes) -> Envelope:
    """The FHS or BHS a batch starts with (of a batch that cannot be read otherwise)."""
    match = _LINE.search(raw.lstrip(BOM + b" \t\r\n"))
    return _envelope(match.group() if match else b"BHS|^~\\&")


def split(raw: bytes) -> Batch:
    """The batch's envelopes and each message's bytes (from its MSH to the next segment that
    is not part of it, line ends as sent). Raises BatchInvalid."""
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    lines = [(m.start(), m.group()) for m in _LINE.finditer(raw) if m.group().strip()]
    batch = Batch(file=None, parts=[])
    part: Part | None = None
    start: int | None = None  # where the message being read began
    closed = False  # an FTS was read: nothing may follow
    for index, (offset, line) in enumerate(lines, start=1):
        sid = line[:3].decode("latin-1")
        if sid != "MSH" and start is not None and sid in ENVELOPE:
            assert part is not None
            part.messages.append(raw[start:offset])
            start = None
        if closed:
            raise _invalid(f"Segment {index} ({sid}) follows the FTS that ended the file.")
        if sid == "FHS":
            if index != 1:
                raise _invalid(f"Segment {index} is an FHS: a file header must come first, once.")
            batch.file = _envelope(line)
        elif sid == "BHS":
            part = Part(header=_envelope(line))
            batch.parts.append(part)
        elif sid == "MSH":
            if part is None:  # messages directly under the FHS: one batch without a BHS
                part = Part(header=None)
                batch.parts.append(part)
            if start is not None:
                part.messages.append(raw[start:offset])
            start = offset
        elif sid == "BTS":
            if part is None:
                raise _invalid(f"Segment {index} is a BTS without its BHS.")
            part.declared = _count(_bts_count(line), index, "BTS-1")
            part = None
        elif sid == "FTS":
            if batch.file is None:
                raise _invalid(f"Segment {index} is an FTS without an FHS.")
            closed = True
        elif start is None:
            raise _invalid(
                f"Segment {index} ({sid[:3]!r}) is outside any message: each message of a batch starts with MSH."
            )
    if start is not None:
        if part is None:  # pragma: no cover - a message always belongs to a part
            raise _invalid("A message follows the end of its batch.")
        part.messages.append(raw[start:])
    return batch


def _bts_count(line: bytes) -> str:
    """BTS-1 (batch message count): BTS has no encoding characters, so field 1 is fields[1]."""
    text = line.decode("latin-1")
    fields = text.split(text[3:4] or "|")
    return fields[1].strip() if len(fields) > 1 else ""


def _count(value: str, index: int, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise _invalid(f"Segment {index}: {name} {value!r} is not a count of messages.")
    return int(value)


def _invalid(text: str) -> BatchInvalid:
    return BatchInvalid(Problem("100", f"The batch cannot be read: {text}"))


# --- The answer -----------------------------------------------------------------------------------


def _header_segment(
    segment_id: str, theirs: Envelope | None, *, at: datetime, control_id: str, our_facility: str
) -> str:
    """Our FHS/BHS answering ``theirs``: their sender as our receiver, their control ID as the
    reference (FHS-12/BHS-12)."""
    stamp = at.strftime("%Y%m%d%H%M%S") + at.strftime("%z")
    return "|".join(
        [
            segment_id,
            "^~\\&",
            SENDING_APPLICATION,
            escape_components((our_facility,)),
            escape_components(theirs.components(3)) if theirs else "",
            escape_components(theirs.components(4)) if theirs else "",
            stamp,
            "",
            "",
            "",
            control_id,
            escape_components((theirs.control_id,)) if theirs else "",
        ]
    )


def build_answer(
    batch: Batch,
    acks: list[list[tuple[str, bytes]]],
    *,
    at: datetime,
    new_control_id: Callable[[], str],
    our_facility: str,
    codec: str,
) -> tuple[str, bytes]:
    """The batch of ACKs (as text, and as bytes): [FHS], and per part BHS, its ACKs, BTS;
    [FTS]. ``acks[i]`` are the ACKs of ``batch.parts[i]``, each (text, bytes in its message's
    character set); the envelope is written in ``codec``."""
    text: list[str] = []
    encoded: list[bytes] = []

    def envelope(segment: str) -> None:
        text.append(segment + "\r")
        encoded.append((segment + "\r").encode(codec, errors="replace"))

    if batch.file is not None:
        envelope(_header_segment("FHS", batch.file, at=at, control_id=new_control_id(), our_facility=our_facility))
    for part, part_acks in zip(batch.parts, acks, strict=True):
        envelope(_header_segment("BHS", part.header, at=at, control_id=new_control_id(), our_facility=our_facility))
        for ack_text, ack_bytes in part_acks:
            text.append(ack_text)
            encoded.append(ack_bytes)
        comment = ""
        if part.declared is not None and part.declared != len(part.messages):
            comment = (
                f"The batch declared {part.declared} messages (BTS-1); {len(part.messages)} were received and "
                "are acknowledged here."
            )
        envelope("|".join(["BTS", str(len(part_acks)), comment]).rstrip("|"))
    if batch.file is not None:
        envelope(f"FTS|{len(batch.parts)}")
    return "".join(text), b"".join(encoded)
