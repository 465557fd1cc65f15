"""A small, fast reader of HL7 v2 ER7 text (HL7 v2.5.1 chapter 2.5-2.7).

Why not a library: on a 20-OBX ORU, hl7apy and the ``hl7`` package take about 70 and 4 times
as long as this reader with the mapping to ``ResultMessage`` (both build a full tree down to
subcomponents; ``make bench-ingest`` prints all three, and ADR 0005 records a run). A result
feed reads a few dozen fields per segment, so segments are split into fields eagerly and
components, repetitions and escapes only when a field is read.

Positions are HL7's: ``segment.field(3)`` is PID-3, ``component(3, 4)`` is PID-3.4. For MSH,
MSH-1 is the field separator itself and MSH-2 the encoding characters, as in the standard.
"""

from __future__ import annotations

from dataclasses import dataclass

BOM = "\ufeff"


class ER7Error(ValueError):
    """The text is not an HL7 v2 message (no MSH, broken encoding characters)."""


@dataclass(frozen=True, slots=True)
class Separators:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    codec: str = "utf-8"  # the message's character set (MSH-18): what \Xhh\ escapes decode in


def normalise(text: str) -> str:
    """Segments ended by CR only: a leading BOM dropped, LF and CRLF made CR, blank lines and
    trailing white space at the end removed (senders do all of these)."""
    if text.startswith(BOM):
        text = text[1:]
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return "\r".join(line for line in text.split("\r") if line.strip())


class Segment:
    """One segment, split into fields. Reads return unescaped text; '' when absent."""

    __slots__ = ("_fields", "id", "index", "occurrence", "seps")

    def __init__(self, fields: list[str], seps: Separators, index: int, occurrence: int = 1) -> None:
        self._fields = fields
        self.seps = seps
        self.id = fields[0]
        self.index = index  # 1-based position of the segment in the message
        self.occurrence = occurrence  # 1-based count of this segment ID so far (ERR-2, ERL-2)

    def __len__(self) -> int:
        return len(self._fields) - 1

    def raw(self, n: int) -> str:
        """Field ``n`` as sent (escapes, repetitions and components intact)."""
        if self.id == "MSH":
            # MSH-1 is the field separator; MSH-2 is fields[1].
            if n == 1:
                return self.seps.field
            n -= 1
        return self._fields[n] if 0 < n < len(self._fields) else ""

    def repetitions(self, n: int) -> list[str]:
        value = self.raw(n)
        return value.split(self.seps.repetition) if value else []

    def field(self, n: int) -> str:
        """Field ``n`` (its first repetition), unescaped, components joined as sent."""
        reps = self.repetitions(n)
        return self.unescape(reps[0]) if reps else ""

    def components(self, n: int, repetition: int = 0) -> list[str]:
        """The components of field ``n`` (one repetition), each unescaped."""
        reps = self.repetitions(n)
        if repetition >= len(reps):
            return []
        return [self.unescape(c) for c in reps[repetition].split(self.seps.component)]

    def component(self, n: int, c: int, repetition: int = 0) -> str:
        parts = self.components(n, repetition)
        value = parts[c - 1] if 0 < c <= len(parts) else ""
        return value.split(self.seps.subcomponent)[0] if self.seps.subcomponent in value else value

    def unescape(self, value: str) -> str:
        """HL7 escape sequences (2.7.4): \\F\\ \\S\\ \\T\\ \\R\\ \\E\\, \\.br\\ and \\Xhh\\."""
        esc = self.seps.escape
        if not esc or esc not in value:
            return value
        out: list[str] = []
        i = 0
        while i < len(value):
            ch = value[i]
            if ch != esc:
                out.append(ch)
                i += 1
                continue
            end = value.find(esc, i + 1)
            if end < 0:
                out.append(value[i:])
                break
            code = value[i + 1 : end]
            s = self.seps
            simple = {"F": s.field, "S": s.component, "T": s.subcomponent, "R": s.repetition, "E": s.escape}
            if code in simple:
                out.append(simple[code])
            elif code == ".br":
                out.append("\n")
            elif code.startswith("X") and len(code) > 1:
                try:
                    # Bytes in the message's character set. A NUL cannot be stored in text
                    # (PostgreSQL refuses it): it is dropped. Bytes that are not valid there are
                    # kept as sent, never charted as a replacement character.
                    out.append(bytes.fromhex(code[1:]).decode(s.codec).replace("\x00", ""))
                except ValueError:  # not hex, or not valid in the character set
                    out.append(value[i : end + 1])
            else:
                out.append(value[i : end + 1])  # unknown sequences are kept as sent
            i = end + 1
        return "".join(out)


class Message:
    """A parsed message: its segments in order, with the separators MSH declared."""

    __slots__ = ("segments", "seps")

    def __init__(self, segments: list[Segment], seps: Separators) -> None:
        self.segments = segments
        self.seps = seps

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def first(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == segment_id), None)

    def all(self, segment_id: str) -> list[Segment]:
        return [s for s in self.segments if s.id == segment_id]


def parse(text: str, *, codec: str = "utf-8") -> Message:
    """Parse normalised ER7 text (decoded from ``codec``, the message's character set). Raises
    ER7Error when it does not start with a usable MSH."""
    if not text.startswith("MSH"):
        raise ER7Error("the message does not start with an MSH segment")
    if len(text) < 8:
        raise ER7Error("the MSH segment is truncated before its encoding characters")
    field_sep = text[3]
    encoding = text[4:8]
    if field_sep.isalnum() or field_sep in "\r\n ":
        raise ER7Error(f"MSH-1 field separator {field_sep!r} is not usable")
    chars = encoding.split(field_sep)[0]
    if len(chars) < 2 or any(c.isalnum() for c in chars):
        raise ER7Error(f"MSH-2 encoding characters {chars!r} are not usable")
    seps = Separators(
        field=field_sep,
        component=chars[0],
        repetition=chars[1],
        escape=chars[2] if len(chars) > 2 else "",
        subcomponent=chars[3] if len(chars) > 3 else "&",
        codec=codec,
    )
    segments = []
    seen: dict[str, int] = {}
    for index, line in enumerate(text.split("\r"), start=1):
        fields = line.split(field_sep)
        seen[fields[0]] = seen.get(fields[0], 0) + 1
        segments.append(Segment(fields, seps, index, seen[fields[0]]))
    return Message(segments, seps)
