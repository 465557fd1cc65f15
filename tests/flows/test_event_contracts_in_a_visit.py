"""Every event a visit publishes (booking, check-in, orders, charges, a result, a merge and its
undoing, a demographic update) is stored as its contract says and reads back through it
unchanged: a producer whose payload drifted from its contract fails here."""

from __future__ import annotations

import pytest
from django.db import transaction

from clinic import events
from clinic.facade import events as outbox_events
from encounters import services as encounters
from encounters.contracts import EncounterStatus
from identity.contracts import Demographics, Gender, HumanName
from identity.facade import merge_patients, unmerge_patient, update_demographics
from interop.v2.intake import receive
from orders import services as orders
from tests.support.hl7 import lab_visit, sample
from tests.support.identity import register


@pytest.mark.django_db(transaction=True)
def test_every_event_of_a_visit_reads_back_through_its_contract_unchanged():
    visit = lab_visit()
    tenant_id = visit.clinic.tenant.pk
    appointment, _ = encounters.book(
        tenant_id=tenant_id, slot_id=visit.clinic.slots()[0].pk, patient_id=visit.patient_id, actor="t"
    )
    encounters.reschedule(
        tenant_id=tenant_id, appointment_id=appointment.pk, slot_id=visit.clinic.slots()[1].pk, actor="t"
    )
    cancelled, _ = encounters.book(
        tenant_id=tenant_id,
        slot_id=visit.clinic.slots(visit.clinic.nurse)[0].pk,
        patient_id=visit.patient_id,
        actor="t",
    )
    encounters.cancel_appointment(tenant_id=tenant_id, appointment_id=cancelled.pk, actor="t")
    (glucose,), _ = orders.place_orders(tenant_id=tenant_id, encounter_id=visit.encounter.pk, codes=["GLU"], actor="t")
    orders.cancel_order(tenant_id=tenant_id, order_id=glucose.pk, actor="t")
    assert "|AA|" in receive(raw=sample("msfc_LAB-ORU-2.hl7"), transport="mllp", peer="test").ack
    duplicate = register(visit.clinic.tenant, family="Duck")
    with transaction.atomic():
        merge_patients(tenant_id=tenant_id, source_id=duplicate.id, target_id=visit.patient_id, reason="dup", actor="t")
        unmerge_patient(tenant_id=tenant_id, source_id=duplicate.id, reason="not the same", actor="t")
        update_demographics(
            tenant_id=tenant_id,
            patient_id=visit.patient_id,
            demographics=Demographics(name=HumanName(family="Duck", given=("Don",)), gender=Gender.MALE),
            actor="t",
        )
    encounters.move_encounter(
        tenant_id=tenant_id, encounter_id=visit.encounter.pk, to=EncounterStatus.FINISHED, actor="t"
    )

    published = outbox_events(tenant_id=tenant_id)

    for event in published:
        assert events.encode(events.decode(event)) == event.payload, event.type
        assert event.payload_version == events.contract_for(event.type).event_version
    assert {e.type for e in published} >= {
        "patient.registered",
        "patient.merged",
        "patient.unmerged",
        "patient.updated",
        "appointment.booked",
        "appointment.cancelled",
        "appointment.rescheduled",
        "encounter.checked_in",
        "encounter.started",
        "encounter.finished",
        "order.placed",
        "order.cancelled",
        "charge.posted",
        "charge.reversed",
        "result.available",
    }
