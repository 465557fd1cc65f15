"""Events already in the outbox, written before payloads were typed (version 1: the keys the
producers wrote by hand), still rebuild into the timeline the old hand-written description gave:
the contracts read them, and say the same."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from clinic.facade import describe_event, payload_of
from clinic.facade import events as outbox_events
from clinic.models import OutboxEvent
from encounters import services
from encounters.models import TimelineEntry
from results.contracts import ResultAvailable
from tests.encounters.factories import AppointmentFactory, EncounterFactory

pytestmark = pytest.mark.django_db

APPOINTMENT, ORDER, CHARGE, REPORT, MERGE = (uuid.UUID(int=n) for n in range(1, 6))


def order(**changes):
    return {
        "order_id": str(ORDER),
        "placer_number": "ORD00000042",
        "code": "FBC",
        "display": "Full blood count",
        "loinc": {"code": "24317-0", "display": "Hemogram and platelet count, automated"},
        "priority": "routine",
        "status": "active",
        "version": 1,
        "visit_number": "V00000007",
        "specimen_note": "",
        "ordered_at": "2026-03-02T09:20:00.123456+00:00",
        **changes,
    }


def charge(**changes):
    return {
        "charge_id": str(CHARGE),
        "code": "LAB-HAEM-01",
        "display": "Haematology panel",
        "amount": "12.50",
        "currency": "GBP",
        "source": f"order:{ORDER}",
        **changes,
    }


def report(**changes):
    return {
        "report_id": str(REPORT),
        "order_id": str(ORDER),
        "placer_number": "ORD00000042",
        "filler_number": "F-1",
        "accession": "A-1",
        "code": "24317-0",
        "display": "Full blood count",
        "status": "final",
        "summary": "Result: Full blood count (final), 3 observations, 1 abnormal",
        "observations": 3,
        "abnormal": 1,
        "created": 3,
        "updated": 0,
        "source": "hl7:1",
        "visit_number": "V00000007",
        **changes,
    }


def test_events_stored_before_typed_payloads_rebuild_the_timeline_the_old_description_gave():
    appointment = AppointmentFactory(id=APPOINTMENT)
    encounter = EncounterFactory(
        tenant=appointment.tenant,
        site=appointment.slot.site,
        patient_id=appointment.patient_id,
        appointment=appointment,
        visit_number="V00000007",
    )
    enc = {"encounter_id": str(encounter.pk), "visit_number": "V00000007", "appointment_id": str(APPOINTMENT)}
    stored = [
        ("appointment.booked", None, {
            "appointment_id": str(APPOINTMENT), "slot_id": 11, "start_at": "2026-03-02T09:15:00+00:00",
            "practitioner_id": 3,
        }),
        ("encounter.checked_in", encounter.pk, {**enc, "status": "arrived"}),
        ("encounter.started", encounter.pk, {**enc, "status": "in-progress"}),
        ("order.placed", encounter.pk, order()),
        ("charge.posted", encounter.pk, charge()),
        ("order.placed", encounter.pk, order(display="", loinc=None, specimen_note="fasting")),
        ("result.available", encounter.pk, report()),
        ("result.corrected", encounter.pk, report(summary="", order_id=None)),
        ("result.flagged", encounter.pk, report(visit_number="")),
        ("order.cancelled", encounter.pk, order(status="revoked", version=2)),
        ("charge.reversed", encounter.pk, charge()),
        ("patient.merged", None, {
            "merge_id": str(MERGE), "source": str(uuid.uuid4()), "target": str(appointment.patient_id),
            "reason": "duplicate", "by": "user:1",
            "moved": [{"model": "encounters.Encounter", "id": str(encounter.pk), "field": "patient_id"}],
        }),
        ("encounter.finished", encounter.pk, {**enc, "status": "finished"}),
    ]  # fmt: skip
    start = timezone.now() - datetime.timedelta(hours=1)
    for n, (event_type, encounter_id, payload) in enumerate(stored):
        at = start + datetime.timedelta(minutes=n)
        OutboxEvent.objects.create(
            type=event_type,
            tenant=encounter.tenant,
            patient_id=appointment.patient_id,
            encounter_id=encounter_id,
            payload=payload,
            occurred_at=at,
            recorded_at=at,
            sweep_after=at,
        )

    assert services.rebuild_timeline(encounter_id=encounter.pk)["missing"] == len(stored)

    timeline = TimelineEntry.objects.filter(encounter=encounter).order_by("seq")
    summary = "Result: Full blood count (final), 3 observations, 1 abnormal"
    assert [(e.summary, e.reference) for e in timeline] == [
        ("Appointment booked for 2026-03-02T09:15:00+00:00", f"appointment:{APPOINTMENT}"),
        ("Checked in (visit V00000007)", f"encounter:{encounter.pk}"),
        ("Consultation started", f"encounter:{encounter.pk}"),
        ("Ordered Full blood count (placer ORD00000042)", f"order:{ORDER}"),
        ("Charged LAB-HAEM-01: 12.50 GBP", f"charge:{CHARGE}"),
        ("Ordered FBC (placer ORD00000042)", f"order:{ORDER}"),
        (summary, f"report:{REPORT}"),
        ("Result available", f"report:{REPORT}"),
        (f"New result from another visit: {summary}", f"report:{REPORT}"),
        ("Order cancelled: Full blood count", f"order:{ORDER}"),
        ("Charge reversed: LAB-HAEM-01", f"charge:{CHARGE}"),
        ("Patient record merged with a duplicate", f"merge:{MERGE}"),
        ("Encounter finished", f"encounter:{encounter.pk}"),
    ]  # fmt: skip
    assert [e.data for e in timeline] == [payload for _type, _encounter, payload in stored]
    assert services.rebuild_timeline(encounter_id=encounter.pk) == {"missing": 0, "extra": 0, "changed": 0}


def test_a_result_stored_before_unsolicited_existed_reads_as_solicited_and_an_unsolicited_one_says_where_it_went():
    encounter = EncounterFactory(visit_number="V00000007")
    unsolicited = "Unsolicited result (no order here): Full blood count (final), 3 observations, 1 abnormal"
    stored = [
        ("result.available", report()),  # version 1, written before the key existed
        ("result.unsolicited", report(order_id=None, summary=unsolicited, unsolicited=True)),
        ("result.unsolicited", report(order_id=None, summary=unsolicited, unsolicited=True, visit_number="")),
    ]
    for event_type, payload in stored:
        OutboxEvent.objects.create(
            type=event_type,
            tenant=encounter.tenant,
            patient_id=encounter.patient_id,
            encounter_id=encounter.pk,
            payload=payload,
            occurred_at=timezone.now(),
            recorded_at=timezone.now(),
            sweep_after=timezone.now(),
        )

    available, charted_to_visit, charted_to_none = sorted(
        outbox_events(tenant_id=encounter.tenant_id, encounter_id=encounter.pk),
        key=lambda e: (e.type, e.payload["visit_number"] == ""),
    )

    assert payload_of(available, ResultAvailable).unsolicited is False
    assert describe_event(charted_to_visit).summary == f"{unsolicited}, charted to visit V00000007"
    assert describe_event(charted_to_none).summary == unsolicited
    assert describe_event(charted_to_none).reference == f"report:{REPORT}"
