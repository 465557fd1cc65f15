"""How records read on screen: names, ages, identifiers. Plain functions of contracts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from identity.contracts import NHS_NUMBER_SYSTEM, PatientRecord


@dataclass(frozen=True)
class PatientView:
    """A patient as the banner and lists show them."""

    id: UUID
    name: str  # "SMITH, Ada"
    birth_date: date | None
    age: str  # "46y", "7m", ""
    sex: str
    mrn: str
    nhs_number: str  # "943 476 5919"
    active: bool
    replaced_by: UUID | None


def patient_view(record: PatientRecord, *, today: date) -> PatientView:
    mrn = next((i.value for i in record.identifiers if i.system.endswith(":mrn") and i.use != "old"), "")
    nhs = next((i.value for i in record.identifiers if i.system == NHS_NUMBER_SYSTEM and i.use != "old"), "")
    replaced_by = next((link.other for link in record.links if link.type == "replaced-by"), None)
    given = " ".join(record.name.given)
    return PatientView(
        id=record.id,
        name=f"{record.name.family.upper()}, {given}" if given else record.name.family.upper(),
        birth_date=record.birth_date,
        age=age(record.birth_date, today=today),
        sex=record.gender.value.capitalize(),
        mrn=mrn,
        nhs_number=f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}" if len(nhs) == 10 else nhs,
        active=record.active,
        replaced_by=replaced_by,
    )


def age(born: date | None, *, today: date) -> str:
    if born is None:
        return ""
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if years >= 2:
        return f"{years}y"
    months = (today.year - born.year) * 12 + today.month - born.month - (today.day < born.day)
    return f"{months}m" if months >= 1 else f"{(today - born).days}d"
