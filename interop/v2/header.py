"""The MSH segment (HL7 v2.5.1 2.14.9): the fields the store and the ACK need, read even from a
message we will refuse, and whether we take a message of this type, version and processing ID.
"""

from __future__ import annotations

from dataclasses import dataclass

from interop.v2 import er7
from interop.v2.ack import Problem, Refused

SUPPORTED_VERSIONS = {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}
SUPPORTED = {("ORU", "R01"), ("ADT", "A01"), ("ADT", "A04"), ("ADT", "A08"), ("ADT", "A40")}
DEFAULT_VERSION = "2.5.1"  # of an ACK to a message whose version we do not speak
PROCESSING_IDS = ("P", "T", "D")  # HL7 table 0103: production, training, debugging

# Header attribute, what the ERR says, MSH field: required in the order they are checked.
REQUIRED = (
    ("control_id", "MSH-10 (message control ID) is required.", 10),
    ("message_type", "MSH-9 (message type) is required.", 9),
    ("version", "MSH-12 (version ID) is required.", 12),
)


@dataclass(slots=True)
class Header:
    sending_application: str = ""  # MSH-3.1 (namespace ID): how a sender is recognised
    sending_facility: str = ""  # MSH-4.1
    receiving_facility: str = ""
    control_id: str = ""
    message_type: str = ""
    event: str = ""
    version: str = ""
    processing_id: str = ""  # MSH-11.1, HL7 table 0103
    # What the ACK echoes whole (HL7 v2.5.1 2.9.2.1: the ACK's MSH-5/MSH-6 are the message's
    # MSH-3/MSH-4): every component of the HD, unescaped (namespace ID ^ universal ID ^ its
    # type), so a sender that routes ACKs by OID finds its own; and MSH-11 with its mode.
    sending_application_hd: tuple[str, ...] = ()
    sending_facility_hd: tuple[str, ...] = ()
    processing: tuple[str, ...] = ()
    charset: str = ""  # MSH-18 (first repetition): the message's character set, HL7 table 0211

    @property
    def kind(self) -> str:
        """MSH-9 as stored: ``ORU^R01``."""
        return f"{self.message_type}^{self.event}".strip("^")

    @property
    def ack_processing(self) -> tuple[str, ...]:
        """The ACK's MSH-11: the message's processing ID and mode when it is one of table
        0103's (a test or debugging message is answered as one), else production."""
        return self.processing if self.processing_id in PROCESSING_IDS else ("P",)

    @property
    def ack_version(self) -> str:
        """The version our ACK declares: the message's own when we speak it."""
        return self.version if self.version in SUPPORTED_VERSIONS else DEFAULT_VERSION


def read_header(text: str) -> Header:
    """Best-effort MSH fields of normalised text, for the store and the ACK, even from a
    message we will refuse: empty when there is no usable MSH."""
    if not text.startswith("MSH") or len(text) < 8:
        return Header()
    try:
        msh = er7.parse(text.split("\r", 1)[0]).msh
    except er7.ER7Error:
        return Header()
    return Header(
        sending_application=msh.component(3, 1),
        sending_facility=msh.component(4, 1),
        receiving_facility=msh.component(6, 1),
        control_id=msh.field(10).strip(),
        message_type=msh.component(9, 1).strip().upper(),
        event=msh.component(9, 2).strip().upper(),
        version=msh.component(12, 1).strip(),
        processing_id=msh.component(11, 1).strip(),
        sending_application_hd=_trimmed(msh.components(3)),
        sending_facility_hd=_trimmed(msh.components(4)),
        processing=_trimmed(msh.components(11)),
        charset=msh.component(18, 1).strip(),
    )


def _trimmed(components: list[str]) -> tuple[str, ...]:
    """The components of a field without its empty trailing ones."""
    out = [c.strip() for c in components]
    while out and not out[-1]:
        out.pop()
    return tuple(out)


def check_header(header: Header) -> None:
    """Refuse (AR) a message we do not take: required MSH fields missing, a version, message
    type or processing ID we do not support, no sender named. Raises Refused."""
    for attribute, text, n in REQUIRED:
        if not getattr(header, attribute):
            raise _refused("101", text, n)
    if header.version not in SUPPORTED_VERSIONS:
        raise _refused("203", f"HL7 version {header.version!r} is not supported (2.3 to 2.8.2 are).", 12)
    if (header.message_type, header.event) not in SUPPORTED:
        kinds = ", ".join(f"{t}^{e}" for t, e in sorted(SUPPORTED))
        code = "200" if header.message_type not in {t for t, _ in SUPPORTED} else "201"
        raise _refused(
            code, f"Message type {header.message_type}^{header.event} is not accepted here ({kinds} are).", 9
        )
    if header.processing_id and header.processing_id not in PROCESSING_IDS:
        raise _refused("202", f"MSH-11 processing ID {header.processing_id!r} is not P, T or D.", 11)
    if not header.sending_facility and not header.sending_application:
        raise _refused("101", "MSH-3/MSH-4 must name the sender.", 4)


def _refused(code: str, text: str, field: int) -> Refused:
    return Refused([Problem(code, text, "MSH", 1, field)])
