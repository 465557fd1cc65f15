"""Acknowledgements (HL7 v2.5.1 chapter 2.9 original mode; MSA, ERR of section 2.15), and the
two ways intake stops on a message: ``Refused`` (AR: we do not take it) and ``MessageInvalid``
(AE: we take this kind of message, but cannot chart this one as sent). Neither leaves intake:
both become the ACK.

ERR-2 is the error location (ERL: segment ID ^ sequence ^ field ^ repetition ^ component), ERR-3
the HL7 table 0357 code, ERR-4 the severity (table 0516) and ERR-8 the text a person reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

SENDING_APPLICATION = "CLINIC"  # our MSH-3, in ACKs and in the messages we send

# HL7 table 0357, message error condition codes.
ERROR_CODES = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a message, as an ERR segment says it."""

    code: str  # table 0357
    text: str
    segment: str = ""
    sequence: int | None = None  # which occurrence of that segment ID (ERL-2): 1 for the first OBX
    field: int | None = None
    component: int | None = None
    severity: str = "E"  # E error, W warning, I information

    @property
    def location(self) -> str:
        if not self.segment:
            return ""
        parts = [self.segment, str(self.sequence or ""), str(self.field or ""), "1" if self.field else ""]
        if self.component:
            parts.append(str(self.component))
        return "^".join(parts).rstrip("^")

    def as_json(self) -> dict[str, str]:
        return {"location": self.location, "code": self.code, "severity": self.severity, "text": self.text}


class Refused(Exception):
    """The message is not taken (AR): not HL7 v2, a type, version or sender we do not accept.
    ``problems`` become its ERR segments."""

    def __init__(self, problems: list[Problem], text: str = "") -> None:
        super().__init__(text or "; ".join(p.text for p in problems))
        self.problems = problems
        self.text = text or problems[0].text


class MessageInvalid(Exception):
    """The message cannot be charted as sent (AE); ``problems`` become its ERR segments."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.text for p in problems))
        self.problems = problems


def _escape(text: str) -> str:
    """HL7 escapes (2.7.4) for text placed in a field; line breaks become spaces."""
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def escape_components(parts: Sequence[str]) -> str:
    """A composite field from its (unescaped) components, each escaped for our separators."""
    return "^".join(_escape(p) for p in parts)


def build_ack(
    *,
    code: str,
    acknowledged_control_id: str,
    ack_control_id: str,
    text: str,
    problems: list[Problem],
    at: datetime,
    receiving_application: Sequence[str] = (),
    receiving_facility: Sequence[str] = (),
    our_facility: str = "",
    trigger: str = "",
    version: str = "2.5.1",
    processing: Sequence[str] = ("P",),
    charset: str = "",
) -> str:
    """The ER7 of an ACK: MSH, MSA (code, the control ID acknowledged, text), one ERR a problem.

    ``receiving_application``/``receiving_facility`` are the components of the message's
    MSH-3/MSH-4 (HD: namespace ID ^ universal ID ^ universal ID type), echoed whole as MSH-5/MSH-6;
    ``processing`` the message's MSH-11 (processing ID ^ mode), echoed as ours; ``charset`` the
    message's MSH-18 when it declared one we read (the ACK is sent in it)."""
    stamp = at.strftime("%Y%m%d%H%M%S") + at.strftime("%z")
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            SENDING_APPLICATION,
            _escape(our_facility),
            escape_components(receiving_application),
            escape_components(receiving_facility),
            stamp,
            "",
            f"ACK^{_escape(trigger)}^ACK" if trigger else "ACK",
            ack_control_id,
            escape_components(processing) or "P",
            _escape(version) or "2.5.1",
            *(["", "", "", "", "", _escape(charset)] if charset else []),
        ]
    )
    msa = "|".join(["MSA", code, _escape(acknowledged_control_id), _escape(text[:400])])
    segments = [msh, msa]
    for problem in problems:
        name = ERROR_CODES.get(problem.code, "")
        segments.append(
            "|".join(
                [
                    "ERR",
                    "",
                    problem.location,
                    f"{problem.code}^{name}^HL70357",
                    problem.severity,
                    "",
                    "",
                    "",
                    _escape(problem.text[:400]),
                ]
            )
        )
    return "\r".join(segments) + "\r"
