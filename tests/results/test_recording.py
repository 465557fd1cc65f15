"""Charting through results' own use cases (no HL7): the plain data an edge hands in, charted
once by business key, versions kept, events published, the held queue worked."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from clinic.models import OutboxEvent
from encounters.contracts import EncounterStatus
from identity.contracts import Demographics, HumanName, IdentifierInput
from identity.facade import register_patient
from results import services
from results.contracts import ChartStatus, HoldReason
from results.facade import ResultUnresolved, record_result
from results.models import DiagnosticReport, HeldResult, Observation, ResultRevision
from tests.results.factories import LAB_MRN, patient_in_visit, resent, with_observations
from tests.support.results import deliver_pending

pytestmark = pytest.mark.django_db


def record(tenant_id, message):
    with transaction.atomic():
        return record_result(tenant_id=tenant_id, message=message, actor="test")


def result_events(type_):
    return OutboxEvent.objects.filter(type=type_)


def test_a_message_charts_one_report_and_its_observations_on_the_visit_it_names():
    patient = patient_in_visit()

    outcome = record(patient.tenant_id, patient.message())

    assert outcome.status == ChartStatus.CHARTED and outcome.created == 3
    report = DiagnosticReport.objects.get(pk=outcome.report_ids[0])
    assert report.patient_id == patient.patient_id and report.encounter_id == patient.encounter_id
    assert report.status == "final" and report.order_id is None
    assert Observation.objects.filter(report=report).count() == 3
    (event,) = result_events("result.available")
    assert event.encounter_id == patient.encounter_id and event.payload["observations"] == 3


def test_the_same_results_again_are_a_duplicate_and_write_nothing():
    patient = patient_in_visit()
    message = patient.message()
    record(patient.tenant_id, message)
    before = (Observation.objects.count(), ResultRevision.objects.count(), OutboxEvent.objects.count())

    outcome = record(patient.tenant_id, resent(message))

    assert outcome.status == ChartStatus.DUPLICATE and outcome.unchanged == 3
    assert (Observation.objects.count(), ResultRevision.objects.count(), OutboxEvent.objects.count()) == before


def test_a_preliminary_after_the_final_is_stale_recorded_once_and_not_applied():
    patient = patient_in_visit()
    final = patient.message()
    record(patient.tenant_id, final)
    late = with_observations(final, status="P", numeric=Decimal("4.9"), text="4.9")

    outcome = record(patient.tenant_id, late)
    again = record(patient.tenant_id, resent(late))

    assert outcome.status == ChartStatus.STALE and outcome.stale == 3
    assert again.status == ChartStatus.STALE
    assert set(Observation.objects.values_list("status", "value_quantity")) == {("final", Decimal("5.1"))}
    assert ResultRevision.objects.filter(outcome="stale").count() == 3  # not recorded twice
    assert result_events("result.available").count() == 1


def test_a_correction_updates_each_result_keeps_the_prior_version_and_publishes_result_corrected():
    patient = patient_in_visit()
    message = patient.message()
    record(patient.tenant_id, message)

    outcome = record(patient.tenant_id, with_observations(message, status="C", numeric=Decimal("6.2"), text="6.2"))

    assert outcome.status == ChartStatus.CHARTED and outcome.updated == 3
    observation = Observation.objects.get(pk=outcome.observation_ids[0])
    assert observation.status == "corrected" and observation.value_quantity == Decimal("6.2")
    assert observation.version == 2
    prior = ResultRevision.objects.get(object_id=observation.pk, outcome="superseded")
    assert prior.version == 1 and prior.content["value_quantity"] == "5.1"
    assert result_events("result.corrected").count() == 1


def test_a_result_for_an_earlier_visit_is_flagged_on_the_visit_in_progress():
    patient = patient_in_visit(status=EncounterStatus.FINISHED)
    now = patient.another_visit("V0002")

    record(patient.tenant_id, patient.message())

    (available,) = result_events("result.available")
    (flagged,) = result_events("result.flagged")
    assert available.encounter_id == patient.encounter_id
    assert flagged.encounter_id == now and flagged.payload == available.payload
    assert flagged.payload["visit_number"] == "V0001"  # which visit the result belongs to


def test_a_result_for_an_unknown_patient_is_held_and_tried_again_when_the_patient_registers():
    patient = patient_in_visit()

    outcome = record(patient.tenant_id, patient.message(mrn="30000003", visit_number=""))

    assert outcome.status == ChartStatus.HELD and outcome.hold_reason == HoldReason.PATIENT_UNKNOWN
    assert not DiagnosticReport.objects.exists()
    with transaction.atomic():
        register_patient(
            tenant_id=patient.tenant_id,
            identifiers=[IdentifierInput(system=LAB_MRN, value="30000003")],
            demographics=Demographics(name=HumanName(family="Other", given=("Sam",))),
            confirm_new=True,
            actor="test",
        )
    deliver_pending("patient.registered")
    held = HeldResult.objects.get(pk=outcome.held_id)
    assert held.attempts == 2 and held.status == "held"
    assert held.reason == HoldReason.NO_ORDER_OR_VISIT  # known now, but it names no order or visit


def test_the_sweep_charts_a_result_held_until_its_visit_exists_and_publishes_result_released():
    patient = patient_in_visit(status=EncounterStatus.FINISHED)
    outcome = record(patient.tenant_id, patient.message(visit_number="V0002"))
    assert outcome.hold_reason == HoldReason.NO_ORDER_OR_VISIT
    visit = patient.another_visit("V0002")

    assert services.retry_held() == 1

    held = HeldResult.objects.get(pk=outcome.held_id)
    assert held.status == "released" and held.released_by == "held-sweep"
    assert DiagnosticReport.objects.get().encounter_id == visit
    (released,) = result_events("result.released")
    assert released.payload["held_id"] == str(held.pk) and released.payload["status"] == "charted"
    assert services.retry_held() == 0


def test_retrying_the_lookup_of_held_results_charts_those_now_resolved_and_counts_the_rest():
    patient = patient_in_visit(status=EncounterStatus.FINISHED)
    resolvable = record(patient.tenant_id, patient.message(visit_number="V0002"))
    unknown = record(patient.tenant_id, patient.message(mrn="40000004"))
    patient.another_visit("V0002")

    tried = services.retry_held_lookups(
        held_results=[(patient.tenant_id, resolvable.held_id), (patient.tenant_id, unknown.held_id)], actor="user:1"
    )

    assert (tried.charted, tried.still_held) == (1, 1)
    assert HeldResult.objects.get(pk=resolvable.held_id).status == "filed"
    assert HeldResult.objects.get(pk=unknown.held_id).status == "held"


def test_without_holding_an_unresolvable_message_raises_result_unresolved():
    patient = patient_in_visit()
    message = patient.message(visit_number="")

    with pytest.raises(ResultUnresolved) as raised, transaction.atomic():
        services.record_result(tenant_id=patient.tenant_id, message=message, actor="test", hold=False)

    assert raised.value.problems[0].field == HoldReason.NO_ORDER_OR_VISIT
    assert not HeldResult.objects.exists()
