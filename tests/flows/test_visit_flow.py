"""A whole visit, encounter-scoped: book, check in, start, order, cancel one, finish; the
timeline entry by entry; the account; the rebuild."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from encounters import services as encounters
from tests.support.identity import NHS_NUMBERS, register
from tests.support.visit import lab_catalogue, lab_test, make_clinic
from tests.support.waiting import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_visit_from_booking_to_finished_encounter(celery_worker):
    clinic = make_clinic(days=1)
    lab_catalogue(clinic.tenant)
    fbc, tsh = lab_test("FBC"), lab_test("TSH")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {clinic.token}")
    patient = register(clinic.tenant, nhs=NHS_NUMBERS[0])

    slot = clinic.slots()[0]
    appointment = api.post(
        "/api/appointments", {"slot": slot.pk, "patient": str(patient.id), "reason": "tired"}, format="json"
    ).json()
    encounter = api.post(f"/api/appointments/{appointment['id']}/check-in").json()
    api.post(f"/api/encounters/{encounter['id']}/start")
    orders = api.post(f"/api/encounters/{encounter['id']}/orders", {"codes": ["FBC", "TSH"]}, format="json").json()[
        "results"
    ]
    api.post(f"/api/orders/{orders[1]['id']}/cancel")
    api.post(f"/api/encounters/{encounter['id']}/finish")

    def timeline():
        return api.get(f"/api/encounters/{encounter['id']}/timeline").json()["results"]

    wait_for(lambda: len(timeline()) == 10, timeout=20, what="ten timeline entries")
    assert [(e["type"], e["summary"]) for e in timeline()] == [
        ("appointment.booked", f"Appointment booked for {slot.start_at.isoformat()}"),
        ("encounter.checked_in", f"Checked in (visit {encounter['visit_number']})"),
        ("encounter.started", "Consultation started"),
        ("order.placed", f"Ordered Full blood count (placer {orders[0]['placer_number']})"),
        ("charge.posted", f"Charged {fbc.fee_code}: {fbc.price} GBP"),
        ("order.placed", f"Ordered Thyroid stimulating hormone (placer {orders[1]['placer_number']})"),
        ("charge.posted", f"Charged {tsh.fee_code}: {tsh.price} GBP"),
        ("order.cancelled", "Order cancelled: Thyroid stimulating hormone"),
        ("charge.reversed", f"Charge reversed: {tsh.fee_code}"),
        ("encounter.finished", "Encounter finished"),
    ]
    assert api.get(f"/api/encounters/{encounter['id']}/charges").json()["total"] == {"GBP": str(fbc.price)}
    assert encounters.rebuild_timeline(encounter_id=uuid.UUID(encounter["id"])) == {
        "missing": 0,
        "extra": 0,
        "changed": 0,
    }
