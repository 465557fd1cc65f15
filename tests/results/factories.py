"""Factories of results: the plain data an edge hands in to chart (``ResultMessage`` and its
parts), a patient in a visit to chart it for, and the rows charting writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import factory
from django.db import transaction

from encounters.contracts import EncounterStatus
from encounters.facade import import_encounter
from identity.contracts import Demographics, HumanName, IdentifierInput
from identity.facade import ensure_identifier_system, register_patient
from results import held
from results.contracts import (
    CodedInput,
    ObservationInput,
    PatientIdentifierInput,
    ReportInput,
    ResultMessage,
)
from results.models import DiagnosticReport, HeldResult, Observation
from tests.clinic.factories import SiteFactory

OBSERVED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
REPORTED_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LAB = "TESTLAB"  # MSH-4 and the assigning authority (CX-4) of the lab's MRNs
LAB_MRN = "urn:test:lab:mrn"


# --- What an edge hands in ----------------------------------------------------------------------


class CodedInputFactory(factory.Factory):
    """A LOINC code (charted as sent, no concept map needed)."""

    class Meta:
        model = CodedInput

    code = factory.Sequence(lambda n: f"{90000 + n}-{n % 10}")
    display = factory.Sequence(lambda n: f"Analyte {n}")
    v2_system = "LN"


class ObservationInputFactory(factory.Factory):
    """A final numeric result (OBX-2 NM) in UCUM units, flagged normal."""

    class Meta:
        model = ObservationInput

    set_id = factory.Sequence(lambda n: str(n + 1))
    value_type = "NM"
    code = factory.SubFactory(CodedInputFactory)
    text = "5.1"
    numeric = Decimal("5.1")
    unit = CodedInput(code="10*9/L", v2_system="UCUM")
    reference_range = "4.0-11.0"
    abnormal_flags = ("N",)
    status = "F"
    observed_at = OBSERVED_AT


class ReportInputFactory(factory.Factory):
    """A final report (OBR) of three results, found by the visit of its message: it names no
    order (give ``placer_number`` to chart it on an order)."""

    class Meta:
        model = ReportInput

    set_id = "1"
    placer_number = ""
    filler_number = ""
    accession = factory.Sequence(lambda n: f"ACC{n:06d}")
    code = factory.SubFactory(CodedInputFactory, code="24317-0", display="Hemogram")
    status = "F"
    observed_at = OBSERVED_AT
    reported_at = REPORTED_AT
    observations = factory.LazyFunction(lambda: tuple(ObservationInputFactory.create_batch(3)))


class ResultMessageFactory(factory.Factory):
    """An ORU^R01 of one report from lab ``TESTLAB``, for the patient with its MRN ``10000001``."""

    class Meta:
        model = ResultMessage

    sending_facility = LAB
    patient_identifiers = (PatientIdentifierInput(value="10000001", authority=LAB, type_code="MR"),)
    reports = factory.LazyFunction(lambda: (ReportInputFactory(),))
    visit_number = ""
    source = factory.Sequence(lambda n: f"test:{n}")
    sent_at = REPORTED_AT


def resent(message: ResultMessage, **changes: Any) -> ResultMessage:
    """The same message delivered again (a new source), with ``changes``."""
    return ResultMessage(**{**_fields(message), "source": f"test:resent-{uuid4().hex[:8]}", **changes})


def with_observations(message: ResultMessage, **changes: Any) -> ResultMessage:
    """``message`` with ``changes`` made to every result of every report (its status, value...)."""
    reports = tuple(
        ReportInput(
            **{
                **_fields(r),
                "observations": tuple(ObservationInput(**{**_fields(o), **changes}) for o in r.observations),
            }
        )
        for r in message.reports
    )
    return resent(message, reports=reports)


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__dataclass_fields__}


# --- Whom it is for -----------------------------------------------------------------------------


@dataclass
class PatientInVisit:
    """A patient known to the lab by an MRN, in a visit in progress."""

    tenant_id: int
    site_id: int
    patient_id: UUID
    encounter_id: UUID
    visit_number: str
    mrn: str

    def message(self, *, mrn: str | None = None, visit_number: str | None = None, **fields: Any) -> ResultMessage:
        """A message for this patient (or the one the lab knows by ``mrn``), on this visit (or
        ``visit_number``, PV1-19)."""
        identifiers = (PatientIdentifierInput(value=mrn or self.mrn, authority=LAB, type_code="MR"),)
        visit = self.visit_number if visit_number is None else visit_number
        return ResultMessageFactory(patient_identifiers=identifiers, visit_number=visit, **fields)

    def another_visit(self, visit_number: str) -> UUID:
        """A second visit of the patient, in progress (the first must not be): its encounter's ID."""
        with transaction.atomic():
            return import_encounter(
                tenant_id=self.tenant_id,
                patient_id=self.patient_id,
                site_id=self.site_id,
                visit_number=visit_number,
                status=EncounterStatus.IN_PROGRESS,
                period_start=datetime.now(UTC),
                period_end=None,
                actor="test",
            ).id


def patient_in_visit(
    *,
    mrn: str = "10000001",
    visit_number: str = "V0001",
    status: EncounterStatus = EncounterStatus.IN_PROGRESS,
    tenant: Any = None,
) -> PatientInVisit:
    """A tenant (or ``tenant``) whose lab ``TESTLAB`` knows the patient by ``mrn``, the patient
    registered, and in a visit numbered ``visit_number`` (in progress, or ``status``)."""
    site = SiteFactory(**({"tenant": tenant} if tenant is not None else {}))
    tenant_id = site.tenant_id
    with transaction.atomic():
        ensure_identifier_system(
            tenant_id=tenant_id, uri=LAB_MRN, name="Test lab MRN", assigning_authority=LAB, pattern=r"\d+"
        )
        patient = register_patient(
            tenant_id=tenant_id,
            identifiers=[IdentifierInput(system=LAB_MRN, value=mrn)],
            demographics=Demographics(name=HumanName(family="Tester", given=("Pat",))),
            confirm_new=True,
            actor="test",
        ).patient
        encounter = import_encounter(
            tenant_id=tenant_id,
            patient_id=patient.id,
            site_id=site.pk,
            visit_number=visit_number,
            status=status,
            period_start=datetime.now(UTC),
            period_end=datetime.now(UTC) if status == EncounterStatus.FINISHED else None,
            actor="test",
        )
    return PatientInVisit(
        tenant_id=tenant_id,
        site_id=site.pk,
        patient_id=patient.id,
        encounter_id=encounter.id,
        visit_number=visit_number,
        mrn=mrn,
    )


# --- Rows ---------------------------------------------------------------------------------------


class DiagnosticReportFactory(factory.django.DjangoModelFactory):
    """A charted final report (give ``tenant_id`` and ``patient_id`` of a registered patient)."""

    class Meta:
        model = DiagnosticReport

    sending_facility = LAB
    accession = factory.Sequence(lambda n: f"ACC{n:06d}")
    code_key = "LN|24317-0"
    coded = factory.LazyFunction(
        lambda: {"original": {"system": "http://loinc.org", "code": "24317-0", "display": "Hemogram"}}
    )
    status = "final"
    v2_status = "F"
    effective_at = OBSERVED_AT
    issued_at = REPORTED_AT
    content_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    source = factory.Sequence(lambda n: f"test:{n}")


class ObservationFactory(factory.django.DjangoModelFactory):
    """A charted final numeric result of ``report``."""

    class Meta:
        model = Observation

    report = factory.SubFactory(DiagnosticReportFactory)
    tenant_id = factory.SelfAttribute("report.tenant_id")
    patient_id = factory.SelfAttribute("report.patient_id")
    encounter_id = factory.SelfAttribute("report.encounter_id")
    sending_facility = factory.SelfAttribute("report.sending_facility")
    accession = factory.SelfAttribute("report.accession")
    code_key = factory.Sequence(lambda n: f"LN|{90000 + n}-{n % 10}")
    set_id = factory.Sequence(lambda n: str(n + 1))
    value_type = "NM"
    value_quantity = Decimal("5.1")
    unit = "10*9/L"
    unit_ucum = "10*9/L"
    status = "final"
    v2_status = "F"
    effective_at = OBSERVED_AT
    content_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    source = factory.SelfAttribute("report.source")


class HeldResultFactory(factory.django.DjangoModelFactory):
    """A result held because no patient holds its MRN (give ``tenant``): its payload, keys and
    digest are those of ``message``, as holding it would store them."""

    class Meta:
        model = HeldResult

    class Params:
        message = factory.LazyFunction(ResultMessageFactory)

    source = factory.SelfAttribute("message.source")
    reason = "patient-unknown"
    detail = "No patient of this clinic holds the PID-3 identifiers."
    patient_keys = factory.LazyAttribute(lambda o: held.patient_keys(o.message))
    placer_numbers = factory.LazyAttribute(lambda o: o.message.placer_numbers)
    filler_numbers = factory.LazyAttribute(lambda o: o.message.filler_numbers)
    accessions = factory.LazyAttribute(lambda o: o.message.accessions)
    visit_number = factory.SelfAttribute("message.visit_number")
    payload = factory.LazyAttribute(lambda o: o.message.to_json())
    content_sha256 = factory.LazyAttribute(lambda o: held.held_digest(o.message))
