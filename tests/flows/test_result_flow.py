"""A lab result from the wire to the clinician's screen: the order's encounter, its live
stream, the flag on the visit the patient is in now, and the support trace of it all."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from rest_framework.test import APIClient

from encounters import services as encounters
from encounters.contracts import EncounterStatus
from encounters.models import TimelineEntry
from interop.v2.listener import Listener
from tests.support.hl7 import MLLPClient, ack_fields, lab_visit, sample
from tests.support.visit import read_events
from tests.support.waiting import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_result_reaches_its_encounter_live_and_is_flagged_on_the_visit_in_progress(celery_worker, front_url):
    visit = lab_visit()  # orders placed in encounter A, which is in progress
    tenant_id = visit.tenant_id
    encounters.move_encounter(
        tenant_id=tenant_id, encounter_id=visit.encounter.pk, to=EncounterStatus.FINISHED, actor="t"
    )
    now = encounters.open_walk_in(
        tenant_id=tenant_id, patient_id=visit.patient_id, site_id=visit.clinic.site.pk, actor="t"
    )
    encounters.move_encounter(tenant_id=tenant_id, encounter_id=now.pk, to=EncounterStatus.IN_PROGRESS, actor="t")
    wait_for(lambda: TimelineEntry.objects.filter(encounter=now, type="encounter.started").exists(), what="B started")
    listener = Listener(port=0, workers=2).start_in_thread()
    headers = {"Authorization": f"Bearer {visit.clinic.token}"}
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(30.0)) as client,
            client.stream("GET", f"{front_url}/api/encounters/{now.pk}/stream", headers=headers) as stream,
        ):
            assert stream.status_code == 200
            acks: list[str] = []

            def lab_sends():
                time.sleep(0.5)  # the viewer is subscribed
                lab = MLLPClient(listener.port)
                acks.append(lab.send(sample("msfc_LAB-ORU-2.hl7")))
                lab.close()

            threading.Thread(target=lab_sends).start()
            seen = read_events(stream, count=4, timeout=20)  # checked in, started, then two flags
    finally:
        listener.stop()

    assert ack_fields(acks[0])["MSA"][1:3] == ["AA", "ControlID"]
    live = [e["data"] for e in seen if e["data"]["type"] == "result.flagged"]
    assert len(live) == 2
    assert {e["summary"].split(":")[0] for e in live} == {f"New result from {visit.encounter.visit_number}"}
    assert any("Hemogram and platelet count, automated (final), 5 observations" in e["summary"] for e in live)
    on_order_encounter = wait_for(
        lambda: (
            list(TimelineEntry.objects.filter(encounter=visit.encounter, type="result.available").order_by("seq"))
            if TimelineEntry.objects.filter(encounter=visit.encounter, type="result.available").count() == 2
            else None
        ),
        what="both reports on the order's encounter",
    )
    assert {e.reference.split(":")[0] for e in on_order_encounter} == {"report"}

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=headers["Authorization"])

    def traced():
        found = api.get("/api/results/trace", {"accession": "82503246"}).json()["messages"]
        return found if found and found[0]["pushed_at"] and found[0]["acknowledged_at"] else None

    (message,) = wait_for(traced, what="the trace to show the push")
    assert message["ack"]["code"] == "AA" and message["status"] == "processed"
    assert message["received_at"] <= message["committed_at"] <= message["acknowledged_at"]
    assert message["committed_at"] <= message["pushed_at"]
    assert {t["encounter"] for t in message["timeline"]} == {str(visit.encounter.pk), str(now.pk)}
    for encounter_id in (visit.encounter.pk, now.pk):
        assert encounters.rebuild_timeline(encounter_id=encounter_id) == {"missing": 0, "extra": 0, "changed": 0}
