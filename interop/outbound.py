"""ORM^O01 messages for lab orders, built and checked with hl7apy (HL7 v2.5, chapter 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hl7apy.core import Message
from hl7apy.parser import parse_segment

from identity.contracts import PatientRecord

SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
PRIORITY = {"routine": "R", "urgent": "S", "asap": "A", "stat": "S"}


def _ts(value: datetime) -> str:
    return value.strftime("%Y%m%d%H%M%S")


def _escape(text: str) -> str:
    """HL7 v2 escape sequences (2.7.4) for text that goes into a field. A line break becomes a
    space: a CR would end the segment and let free text forge the next one (hl7apy does not
    keep hex escapes such as \\X0D\\ intact)."""
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


def build_orm(
    *,
    control_id: str,
    sent_at: datetime,
    sending_application: str,
    sending_facility: str,
    receiving_application: str,
    receiving_facility: str,
    patient: PatientRecord,
    mrn_authority: str,
    order: dict[str, Any],
    order_control: str,
) -> str:
    """The ER7 text of an ORM^O01 (new order NW, or cancel CA) for one order. Each segment is
    validated against the HL7 v2.5 structures (hl7apy)."""
    m = Message("ORM_O01", version="2.5")
    m.msh.msh_3 = _escape(sending_application)
    m.msh.msh_4 = _escape(sending_facility)
    m.msh.msh_5 = _escape(receiving_application)
    m.msh.msh_6 = _escape(receiving_facility)
    m.msh.msh_7 = _ts(sent_at)
    m.msh.msh_9 = "ORM^O01^ORM_O01"
    m.msh.msh_10 = control_id
    m.msh.msh_11 = "P"
    m.msh.msh_12 = "2.5"
    group = m.add_group("ORM_O01_PATIENT")
    mrn = next((i for i in patient.identifiers if i.assigning_authority == mrn_authority and i.use != "old"), None)
    identifiers = [f"{_escape(mrn.value)}^^^{mrn_authority}^MR"] if mrn else []
    identifiers += [
        f"{_escape(i.value)}^^^{i.assigning_authority}^NH"
        for i in patient.identifiers
        if i.assigning_authority == "NHS" and i.use != "old"
    ]
    name = f"{_escape(patient.name.family)}^{_escape(' '.join(patient.name.given))}"
    born = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
    # PID-3 repeats (MRN, NHS number): parsed from ER7 so the repetitions are real ones.
    group.add(
        parse_segment(
            f"PID|||{'~'.join(identifiers)}||{name}||{born}|{SEX.get(patient.gender.value, 'U')}", version="2.5"
        )
    )
    visit = group.add_group("ORM_O01_PATIENT_VISIT")
    visit.pv1.pv1_2 = "O"  # outpatient
    visit.pv1.pv1_19 = _escape(order["visit_number"])
    ordered = m.add_group("ORM_O01_ORDER")
    ordered.orc.orc_1 = order_control
    ordered.orc.orc_2 = _escape(order["placer_number"])
    ordered.orc.orc_9 = _ts(datetime.fromisoformat(order["ordered_at"]))
    detail = ordered.add_group("ORM_O01_ORDER_DETAIL").add_group("ORM_O01_OBRRQDRQ1RXOODSODT_SUPPGRP")
    detail.add_segment("OBR")
    detail.obr.obr_1 = "1"
    detail.obr.obr_2 = _escape(order["placer_number"])
    loinc = order.get("loinc")
    local = f"{_escape(order['code'])}^{_escape(order['display'])}^L"
    detail.obr.obr_4 = f"{loinc['code']}^{_escape(loinc['display'])}^LN^{local}" if loinc else local
    detail.obr.obr_5 = PRIORITY.get(order.get("priority", "routine"), "R")
    if order.get("specimen_note"):
        detail.obr.obr_13 = _escape(order["specimen_note"])
    for segment in (m.msh, group.pid, visit.pv1, ordered.orc, detail.obr):
        segment.validate()  # raises hl7apy ValidationError on a malformed segment
    return str(m.to_er7())
