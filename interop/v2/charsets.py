"""Character sets of inbound messages (HL7 v2.5.1 2.14.9.18, MSH-18; HL7 table 0211).

A message is text in the character set its MSH-18 names; when MSH-18 is empty, in its lab
partner's default (``LabPartner.charset``, UNICODE UTF-8 unless set: ADR 0010). A character
set we do not decode, or bytes that are not valid in the one that applies, refuse the message
(AR naming it): a guess would chart garbled text. A UTF-8 replacement character (U+FFFD, bytes
EF BF BD) means the text was damaged before it was sent, and is refused too: we never chart one.

The MSH segment is ASCII in every character set here, so the header (and the sender, and so
the default) can be read before the message is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

from interop.v2.ack import Problem


@dataclass(frozen=True, slots=True)
class Charset:
    hl7: str  # the table 0211 value, as MSH-18 says it
    codec: str  # Python's codec
    iana: str  # the name for an HTTP Content-Type
    single_byte: bool = True


_TABLE = (
    Charset("ASCII", "ascii", "US-ASCII"),
    Charset("8859/1", "iso8859-1", "ISO-8859-1"),
    Charset("8859/2", "iso8859-2", "ISO-8859-2"),
    Charset("8859/3", "iso8859-3", "ISO-8859-3"),
    Charset("8859/4", "iso8859-4", "ISO-8859-4"),
    Charset("8859/5", "iso8859-5", "ISO-8859-5"),
    Charset("8859/6", "iso8859-6", "ISO-8859-6"),
    Charset("8859/7", "iso8859-7", "ISO-8859-7"),
    Charset("8859/8", "iso8859-8", "ISO-8859-8"),
    Charset("8859/9", "iso8859-9", "ISO-8859-9"),
    Charset("8859/15", "iso8859-15", "ISO-8859-15"),
    Charset("UNICODE UTF-8", "utf-8", "UTF-8", single_byte=False),
    Charset("GB 18030-2000", "gb18030", "GB18030", single_byte=False),
    Charset("BIG-5", "big5", "Big5", single_byte=False),
)
CHARSETS = {c.hl7: c for c in _TABLE}
# Spellings senders use that are not table 0211's, for the same character sets.
ALIASES = {"UTF-8": "UNICODE UTF-8", "UTF8": "UNICODE UTF-8", "ISO-8859-1": "8859/1", "ISO-8859-15": "8859/15"}
DEFAULT = "UNICODE UTF-8"
UTF8 = CHARSETS[DEFAULT]
REPLACEMENT = b"\xef\xbf\xbd"  # U+FFFD in UTF-8


def lookup(name: str) -> Charset | None:
    """The character set MSH-18 (or a partner's default) names; None when we do not decode it."""
    key = " ".join(name.split()).upper()
    return CHARSETS.get(ALIASES.get(key, key))


def supported() -> str:
    return ", ".join(CHARSETS)


class CharsetRefused(Exception):
    """The message cannot be read in the character set that applies; ``problem`` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.text)
        self.problem = problem


def decode(raw: bytes, name: str, *, declared: bool) -> tuple[str, Charset]:
    """The text of ``raw`` in the character set ``name`` (MSH-18 when ``declared``, else the
    partner's default). Raises CharsetRefused."""
    where = "MSH-18" if declared else "the lab's default: MSH-18 is empty"
    charset = lookup(name)
    if charset is None:
        raise CharsetRefused(
            Problem(
                "103",
                f"Character set {name!r} ({where}) is not supported here (supported: {supported()}).",
                "MSH",
                1,
                18,
            )
        )
    if charset.single_byte or charset is UTF8:
        damaged = raw.find(REPLACEMENT)
        if damaged >= 0:
            raise CharsetRefused(
                Problem(
                    "102",
                    f"The message contains a Unicode replacement character (bytes EF BF BD at byte {damaged}): "
                    "its text was damaged before it was sent. Send the original text.",
                )
            )
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode(charset.codec)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex().upper()
        raise CharsetRefused(
            Problem(
                "102",
                f"The message is not valid {charset.hl7} ({where}): byte 0x{bad} at byte {exc.start}. "
                "Declare its character set in MSH-18 (HL7 table 0211), or send it in this one.",
                "MSH",
                1,
                18,
            )
        ) from exc
    return text, charset
