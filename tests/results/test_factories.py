"""The factories of tests/results build what the code would: messages that chart, rows that are
found by their keys."""

from __future__ import annotations

import pytest
from django.db import transaction

from results.contracts import ChartStatus, ResultMessage
from results.facade import record_result
from results.models import Observation
from tests.clinic.factories import TenantFactory
from tests.results.factories import (
    DiagnosticReportFactory,
    HeldResultFactory,
    ObservationFactory,
    ResultMessageFactory,
    patient_in_visit,
)

pytestmark = pytest.mark.django_db


def test_a_factory_message_survives_the_json_of_the_held_queue():
    message = ResultMessageFactory()

    assert ResultMessage.from_json(message.to_json()) == message


def test_each_factory_message_is_a_new_result():
    patient = patient_in_visit()

    with transaction.atomic():
        first = record_result(tenant_id=patient.tenant_id, message=patient.message(), actor="test")
        second = record_result(tenant_id=patient.tenant_id, message=patient.message(), actor="test")

    assert (first.status, second.status) == (ChartStatus.CHARTED, ChartStatus.CHARTED)
    assert set(first.observation_ids).isdisjoint(second.observation_ids)


def test_a_held_result_from_the_factory_is_the_row_holding_its_message_finds():
    tenant = TenantFactory()
    message = ResultMessageFactory()
    row = HeldResultFactory(tenant=tenant, message=message)

    with transaction.atomic():
        outcome = record_result(tenant_id=tenant.pk, message=message, actor="test")

    assert outcome.status == ChartStatus.HELD and outcome.held_id == row.pk


def test_an_observation_from_the_factory_belongs_to_its_reports_patient_and_visit():
    patient = patient_in_visit()
    report = DiagnosticReportFactory(
        tenant_id=patient.tenant_id, patient_id=patient.patient_id, encounter_id=patient.encounter_id
    )

    observation = ObservationFactory(report=report)

    stored = Observation.objects.get(pk=observation.pk)
    assert (stored.tenant_id, stored.patient_id, stored.encounter_id) == (
        patient.tenant_id,
        patient.patient_id,
        patient.encounter_id,
    )
    assert stored.accession == report.accession
