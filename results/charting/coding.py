"""Codes and values of a result: the code systems of the v2 names a lab sends, test codes
translated to LOINC, OBX-8 flags to interpretations, OBX-11/OBR-25 statuses to FHIR's, OBX-6
units to UCUM."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from results import units
from results.contracts import (
    INTERPRETATION_SYSTEM,
    OBSERVATION_STATUS_SYSTEM,
    REPORT_STATUS_SYSTEM,
    CodedInput,
    ReportInput,
)
from terminology.contracts import LOINC, CodedValue, Coding, v2_table
from terminology.facade import code_value, system_for_v2, translate

# FHIR status for HL7 v2 statuses the v2-to-FHIR maps leave out (0085: I pending, R not yet
# verified, S partial, U made final without retransmission, N not asked; 0123 has them all).
OBSERVATION_STATUS_FALLBACK = {
    "I": "registered",
    "O": "registered",
    "R": "preliminary",
    "S": "preliminary",
    "U": "final",
    "N": "cancelled",
    "B": "amended",  # appended (v2.9): R4 Observation.status has no "appended"
}
FINAL_REPORT_STATUSES = {"final", "amended", "corrected", "appended"}


class Codes:
    """Code systems and translations for one message (v2 system names looked up once)."""

    def __init__(self, tenant_id: int, sending_facility: str, source: str) -> None:
        self.tenant_id = tenant_id
        self.facility = sending_facility
        self.source = source
        self._systems: dict[str, str] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}  # twenty results of a panel share flags and statuses

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def system(self, v2_system: str) -> str:
        if v2_system not in self._systems:
            uri = system_for_v2(tenant_id=self.tenant_id, v2_identifier=v2_system) if v2_system else None
            # A lab's own codes (L, 99zzz or a name we do not know) live in a system of that lab:
            # a tenant concept map translates them to LOINC.
            self._systems[v2_system] = uri or f"urn:clinic:lab:{self.facility}:{v2_system or 'L'}"
        return self._systems[v2_system]

    def test_code(self, coded: CodedInput, as_of: date) -> CodedValue:
        system = self.system(coded.v2_system)
        original = Coding(system=system, code=coded.code, display=coded.display)
        if system == LOINC:
            return CodedValue(original=original, translated=original, as_of=as_of)
        return code_value(
            tenant_id=self.tenant_id,
            system=system,
            code=coded.code,
            display=coded.display,
            target_system=LOINC,
            as_of=as_of,
            reference=self.source,
        )

    def coding(self, coded: CodedInput) -> dict[str, str]:
        return {"system": self.system(coded.v2_system), "code": coded.code, "display": coded.display}

    def interpretation(self, flags: tuple[str, ...], as_of: date) -> list[dict[str, str]]:
        out = []
        for flag in flags:
            found = translate(
                tenant_id=self.tenant_id,
                system=v2_table("0078"),
                code=flag,
                target_system=INTERPRETATION_SYSTEM,
                as_of=as_of,
            )
            if found is not None:
                out.append({"system": found.target.system, "code": found.target.code, "display": found.target.display})
            else:
                out.append({"system": v2_table("0078"), "code": flag, "display": ""})
        return out

    def observation_status(self, v2: str, as_of: date) -> str:
        if not v2:
            return "unknown"
        found = translate(
            tenant_id=self.tenant_id,
            system=v2_table("0085"),
            code=v2,
            target_system=OBSERVATION_STATUS_SYSTEM,
            as_of=as_of,
        )
        return found.target.code if found else OBSERVATION_STATUS_FALLBACK.get(v2, "unknown")

    def report_status(self, v2: str, as_of: date) -> str | None:
        if not v2:
            return None
        found = translate(
            tenant_id=self.tenant_id, system=v2_table("0123"), code=v2, target_system=REPORT_STATUS_SYSTEM, as_of=as_of
        )
        return found.target.code if found else None


def derive_report_status(codes: Codes, report: ReportInput, as_of: date) -> str:
    """OBR-25 through table 0123; without one, from the results (all final: final)."""
    mapped = codes.report_status(report.status, as_of)
    if mapped:
        return mapped
    statuses = {codes.observation_status(o.status, as_of) for o in report.observations}
    if statuses and statuses <= FINAL_REPORT_STATUSES:
        return "final"
    return "preliminary" if statuses else "registered"


def unit_of(unit: CodedInput | None) -> tuple[str, str]:
    """(unit as text, UCUM code or '') of OBX-6."""
    if unit is None or not (unit.code or unit.display):
        return "", ""
    text = unit.code or unit.display
    if unit.v2_system in ("UCUM", "ANS+") or not unit.v2_system:
        return text, unit.code if unit.code and units.is_ucum(unit.code) else ""
    return text, ""


def code_key(coded: CodedInput) -> str:
    """The code of a business key: 'coding system|identifier' as received (OBR-4, OBX-3)."""
    return f"{coded.v2_system}|{coded.code}"[:140]
