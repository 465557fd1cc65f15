"""Building an order message for a lab from its outbound profile (``order_profiles``): ORM^O01
(HL7 v2.5 chapter 4) or OML^O21 (HL7 v2.5.1 chapter 4, as the Laboratory Orders Interface
guide uses it), new order (ORC-1 ``NW``) or cancel (``CA``).

The message is written segment by segment from the order's facts and the profile's sources,
then checked twice before anyone may send it: parsed and validated against the HL7 structures
of its version by hl7apy (segment order, groups, cardinalities, data types), and against the
profile's required fields and rules. Either failure raises ``ProfileUnsatisfied`` naming the
field; such a message is never sent (``outbound_orders`` records why).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from identity.contracts import PatientRecord
from interop.v2.order_profiles import OrderProfile, ProfileUnsatisfied, check
from orders.contracts import OrderEvent

SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
# OBR-5 (HL7 table 0027) and TQ1-9 (table 0485): routine, stat, as soon as possible.
PRIORITY = {"routine": "R", "urgent": "S", "asap": "A", "stat": "S"}


@dataclass(frozen=True)
class OrderFacts:
    """What an order message is made of: the clinic (its code is our MSH-4 and the assigning
    authority of its MRNs), the lab, the patient, the order (the typed payload of its
    ``order.placed`` or ``order.cancelled`` event) and the practitioner of the order's encounter
    (ID, name), when it has one."""

    clinic: str
    lab_application: str
    lab_facility: str
    patient: PatientRecord
    order: OrderEvent
    ordering_provider: tuple[str, str] | None = None


def escape(text: str) -> str:
    """HL7 v2 escape sequences (2.7.4) for text that goes into a field. A line break becomes a
    space: a CR would end the segment and let free text forge the next one."""
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r\n", " ")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _ts(value: datetime) -> str:
    return value.strftime("%Y%m%d%H%M%S")


def _segment(segment_id: str, fields: dict[int, str]) -> str:
    """``SEG|f1|f2...`` from the non-empty fields by position."""
    last = max((n for n, v in fields.items() if v), default=0)
    return "|".join([segment_id, *(fields.get(n, "") for n in range(1, last + 1))])


class _Builder:
    def __init__(self, profile: OrderProfile, facts: OrderFacts) -> None:
        self.profile = profile
        self.facts = facts

    def value(self, target: str) -> str:
        """The ER7 of ``target`` from its source in the profile ('' when it has none)."""
        source = self.profile.source(target)
        if source is None:
            return ""
        if isinstance(source, list):
            return self.repeated(target, source)
        return self.one(source)

    def one(self, source: str) -> str:
        if source.startswith("="):
            return source[1:]  # literal ER7 from the profile
        order, facts = self.facts.order, self.facts
        if source == "visit-number":
            return escape(order.visit_number)
        if source == "priority":
            return PRIORITY.get(order.priority.value, "R")
        if source == "specimen-note":
            return escape(order.specimen_note)
        if source == "ordering-provider":
            if facts.ordering_provider is None:
                return ""
            provider_id, name = facts.ordering_provider
            # XCN: ID ^ family name (the name as recorded) ^^^^^^^ assigning authority (XCN-9)
            return f"{escape(provider_id)}^{escape(name)}^^^^^^^{escape(facts.clinic)}"
        raise ProfileUnsatisfied(self.profile.name, source, "is a source the builder does not know")

    def repeated(self, target: str, sources: list[str]) -> str:
        if target == "PID-3":
            return "~".join(filter(None, (self.identifier(s) for s in sources)))
        # OBR-4 (CWE/CE): at most two codings, identifier ^ text ^ system, then the alternate's.
        codings = [c for c in (self.coding(s) for s in sources) if c][:2]
        return "^".join(codings)

    def identifier(self, source: str) -> str:
        patient, clinic = self.facts.patient, self.facts.clinic
        current = [i for i in patient.identifiers if i.use != "old"]
        if source == "mrn":
            found = next((i for i in current if i.assigning_authority == clinic), None)
            return f"{escape(found.value)}^^^{escape(clinic)}^MR" if found else ""
        found = next((i for i in current if i.assigning_authority == "NHS"), None)  # nhs-number
        return f"{escape(found.value)}^^^NHS^NH" if found else ""

    def coding(self, source: str) -> str:
        order = self.facts.order
        if source == "loinc":
            loinc = order.loinc
            return f"{escape(loinc.code)}^{escape(loinc.display)}^LN" if loinc else ""
        return f"{escape(order.code)}^{escape(order.display)}^L"  # local

    # --- the segments ---------------------------------------------------------------------------

    def msh(self, control_id: str, sent_at: datetime, sending_application: str) -> str:
        p = self.profile
        return _segment(
            "MSH",
            {
                1: "^~\\&",  # MSH-2 (MSH-1 is the separator before it)
                2: escape(sending_application),
                3: escape(self.facts.clinic),
                4: escape(self.facts.lab_application),
                5: escape(self.facts.lab_facility),
                6: _ts(sent_at),
                8: f"{p.message_type}^{p.structure}",
                9: control_id,
                10: "P",
                11: p.version,
                20: "~".join(p.msh21),
            },
        )

    def pid(self) -> str:
        patient = self.facts.patient
        name = f"{escape(patient.name.family)}^{escape(' '.join(patient.name.given))}"
        born = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
        return _segment(
            "PID",
            {1: "1", 3: self.value("PID-3"), 5: name, 7: born, 8: SEX.get(patient.gender.value, "U")},
        )

    def pv1(self) -> str:
        return _segment("PV1", {1: "1", 2: "O", 19: self.value("PV1-19")})  # outpatient

    def orc(self, order_control: str) -> str:
        order = self.facts.order
        return _segment(
            "ORC",
            {
                1: order_control,
                2: escape(order.placer_number),
                9: _ts(order.ordered_at),
                12: self.value("ORC-12"),
            },
        )

    def tq1(self) -> str:
        return _segment("TQ1", {1: "1", 9: self.value("TQ1-9")})

    def obr(self) -> str:
        order = self.facts.order
        return _segment(
            "OBR",
            {
                1: "1",
                2: escape(order.placer_number),
                4: self.value("OBR-4"),
                5: self.value("OBR-5"),
                13: self.value("OBR-13"),
                16: self.value("OBR-16"),
            },
        )

    def spm(self) -> str:
        order = self.facts.order
        # SPM-2 specimen ID: the placer's (the placer number and the specimen's ordinal).
        return _segment("SPM", {1: "1", 2: f"{escape(order.placer_number)}-1", 4: self.value("SPM-4")})


def build_order_message(
    profile: OrderProfile,
    facts: OrderFacts,
    *,
    control_id: str,
    sent_at: datetime,
    order_control: str,
    sending_application: str,
) -> str:
    """The ER7 of the order message ``profile`` describes for ``facts``. Raises
    ProfileUnsatisfied (naming the field) when it breaks the HL7 structures of its version or
    the profile."""
    b = _Builder(profile, facts)
    segments = [b.msh(control_id, sent_at, sending_application), b.pid(), b.pv1(), b.orc(order_control)]
    if profile.source("TQ1-9") is not None:
        segments.append(b.tq1())
    segments.append(b.obr())
    if profile.source("SPM-4") is not None:
        segments.append(b.spm())
    text = "\r".join(segments) + "\r"
    check(profile, text, clinic=facts.clinic)  # first: the lab's own words for what is missing
    validate_structure(profile, text)
    return text


def validate_structure(profile: OrderProfile, text: str) -> None:
    """Parse ``text`` strictly as its version's message structure (hl7apy) and validate it:
    groups, segment order and cardinality, required fields, data types. Raises
    ProfileUnsatisfied naming what hl7apy found.

    hl7apy validates a choice group (ORM^O01's OBR | RQD | RQ1 | RXO | ODS | ODT, which it names
    ``..._SUPPGRP``) as if each of its members were required; a message failing only there has
    its segments validated one by one instead."""
    try:
        message = parse_message(text.strip("\r"), validation_level=VALIDATION_LEVEL.STRICT)
        try:
            message.validate()
        except HL7apyException as exc:
            if "_SUPPGRP" not in str(exc):
                raise
            for segment in _segments(message):
                segment.validate()
    except (HL7apyException, ValueError) as exc:
        raise ProfileUnsatisfied(
            profile.name, _where(str(exc)), f"breaks the HL7 v{profile.version} {profile.structure} structure: {exc}"
        ) from exc


def _segments(element: Any) -> Iterator[Any]:
    for child in element.children:
        if child.classname == "Segment":
            yield child
        else:
            yield from _segments(child)


def _where(text: str) -> str:
    """The segment or field an hl7apy error names (``OML_O21_ORDER.ORC`` → ``ORC``), else the
    message structure."""
    for token in text.replace(":", " ").split():
        tail = token.rsplit(".", 1)[-1].strip("'\"(),")
        if len(tail) >= 3 and tail[:3].isupper() and tail[:3].isalnum() and (len(tail) == 3 or tail[3] == "_"):
            return tail.replace("_", "-")
    return "message"
