"""Registering patients in tests, through the real facade (shared by every test folder)."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction

from identity import facade
from identity.contracts import (
    NHS_NUMBER_SYSTEM,
    ContactPoint,
    Demographics,
    Gender,
    HumanName,
    IdentifierInput,
    PatientRecord,
)

# Valid NHS numbers (modulus 11), from NHS Digital's published test ranges.
NHS_NUMBERS = ["9434765919", "9434765870", "9434765846", "9434765862", "9434765889", "4010232137", "9990000018"]


def mrn_system(tenant: Any) -> str:
    return f"urn:clinic:{tenant.slug}:mrn"


def register(
    tenant: Any,
    *,
    nhs: str | None = None,
    mrn: str | None = None,
    family: str = "Smith",
    given: tuple[str, ...] = ("Ada",),
    birth_date: datetime.date | None = datetime.date(1980, 2, 3),
    gender: Gender = Gender.FEMALE,
    phone: str | None = None,
    confirm_new: bool = True,
) -> PatientRecord:
    identifiers = []
    if nhs:
        identifiers.append(IdentifierInput(system=NHS_NUMBER_SYSTEM, value=nhs))
    if mrn:
        identifiers.append(IdentifierInput(system=mrn_system(tenant), value=mrn))
    demographics = Demographics(
        name=HumanName(family=family, given=given),
        birth_date=birth_date,
        gender=gender,
        telecom=(ContactPoint(system="phone", value=phone),) if phone else (),
    )
    with transaction.atomic():
        return facade.register_patient(
            tenant_id=tenant.pk,
            identifiers=identifiers,
            demographics=demographics,
            confirm_new=confirm_new,
            actor="test",
        ).patient
