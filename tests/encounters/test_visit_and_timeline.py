"""Check-in, the encounter lifecycle, and the timeline: fed by events, rebuildable, live."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from encounters import services
from encounters.contracts import EncounterStatus
from encounters.models import Encounter, TimelineEntry
from tests.encounters.factories import EncounterFactory
from tests.support.identity import NHS_NUMBERS, register
from tests.support.visit import make_clinic, read_events
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic():
    return make_clinic()


@pytest.fixture
def api(clinic):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clinic.token}")
    return client


@pytest.fixture
def patient(clinic):
    return register(clinic.tenant, nhs=NHS_NUMBERS[0])


def booked(clinic, patient, index: int = 0):
    appointment, _ = services.book(
        tenant_id=clinic.tenant.pk, slot_id=clinic.slots()[index].pk, patient_id=patient.id, actor="t"
    )
    return appointment


def test_check_in_opens_the_encounter_once(api, clinic, patient):
    appointment = booked(clinic, patient)

    first = api.post(f"/api/appointments/{appointment.pk}/check-in")
    again = api.post(f"/api/appointments/{appointment.pk}/check-in")

    assert (first.status_code, again.status_code) == (201, 200)
    body = first.json()
    assert again.json()["id"] == body["id"]
    assert (body["status"], body["patient"], body["site"], body["practitioner"]) == (
        "arrived",
        str(patient.id),
        clinic.site.pk,
        clinic.doctor.pk,
    )
    assert body["visit_number"].startswith("V")
    assert api.get(f"/api/appointments/{appointment.pk}").json()["status"] == "checked-in"


def test_visit_numbers_are_unique(api, clinic, patient):
    numbers = {
        api.post("/api/encounters", {"patient": str(patient.id), "site": clinic.site.pk}, format="json").json()[
            "visit_number"
        ]
        for _ in range(5)
    }

    assert len(numbers) == 5


def test_lifecycle_and_one_encounter_in_progress_per_site(api, clinic, patient):
    first = api.post("/api/encounters", {"patient": str(patient.id), "site": clinic.site.pk}, format="json").json()
    second = api.post("/api/encounters", {"patient": str(patient.id), "site": clinic.site.pk}, format="json").json()

    started = api.post(f"/api/encounters/{first['id']}/start")
    clash = api.post(f"/api/encounters/{second['id']}/start")
    finished = api.post(f"/api/encounters/{first['id']}/finish")
    now_ok = api.post(f"/api/encounters/{second['id']}/start")
    backwards = api.post(f"/api/encounters/{first['id']}/start")

    assert started.json()["status"] == "in-progress"
    assert clash.status_code == 409
    assert clash.json()["active_encounter"] == first["id"]
    assert (finished.json()["status"], finished.json()["period_end"] is not None) == ("finished", True)
    assert now_ok.status_code == 200
    assert backwards.status_code == 409
    assert backwards.json()["detail"] == "An encounter cannot go from finished to in-progress."


def test_walk_in_with_another_tenants_site_or_patient_is_404(api, clinic, patient):
    other = make_clinic()

    their_site = api.post("/api/encounters", {"patient": str(patient.id), "site": other.site.pk}, format="json")
    their_patient = api.post(
        "/api/encounters", {"patient": str(register(other.tenant, mrn="X-1").id), "site": clinic.site.pk}, format="json"
    )
    encounter = api.post("/api/encounters", {"patient": str(patient.id), "site": clinic.site.pk}, format="json").json()
    other_api = APIClient()
    other_api.credentials(HTTP_AUTHORIZATION=f"Bearer {other.token}")

    assert their_site.status_code == their_patient.status_code == 404
    assert other_api.get(f"/api/encounters/{encounter['id']}").status_code == 404
    assert other_api.get(f"/api/encounters/{encounter['id']}/timeline").status_code == 404
    assert other_api.post(f"/api/encounters/{encounter['id']}/finish").status_code == 404


def test_timeline_follows_the_visit_entry_by_entry_and_rebuilds_identically(celery_worker, clinic, patient):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {clinic.token}")
    appointment = booked(clinic, patient)
    encounter = api.post(f"/api/appointments/{appointment.pk}/check-in").json()
    api.post(f"/api/encounters/{encounter['id']}/start")
    api.post(f"/api/encounters/{encounter['id']}/finish")

    def entries():
        return api.get(f"/api/encounters/{encounter['id']}/timeline").json()["results"]

    wait_for(lambda: len(entries()) == 4, what="four timeline entries")
    timeline = entries()

    assert [e["type"] for e in timeline] == [
        "appointment.booked",
        "encounter.checked_in",
        "encounter.started",
        "encounter.finished",
    ]
    assert timeline[0]["reference"] == f"appointment:{appointment.pk}"
    assert timeline[1]["summary"] == f"Checked in (visit {encounter['visit_number']})"
    assert [e["id"] for e in timeline] == sorted(e["id"] for e in timeline)
    assert diff_after_rebuild(encounter["id"]) == {"missing": 0, "extra": 0, "changed": 0}


def diff_after_rebuild(encounter_id: str) -> dict[str, int]:
    return services.rebuild_timeline(encounter_id=uuid.UUID(encounter_id))


def test_rebuild_reports_and_repairs_a_damaged_timeline(celery_worker, clinic, patient, capsys):
    encounter = services.open_walk_in(
        tenant_id=clinic.tenant.pk, patient_id=patient.id, site_id=clinic.site.pk, actor="t"
    )
    services.move_encounter(
        tenant_id=clinic.tenant.pk, encounter_id=encounter.pk, to=EncounterStatus.IN_PROGRESS, actor="t"
    )
    wait_for(lambda: TimelineEntry.objects.filter(encounter=encounter).count() == 2, what="timeline")
    TimelineEntry.objects.filter(encounter=encounter, type="encounter.started").delete()
    TimelineEntry.objects.filter(encounter=encounter).update(summary="tampered")

    with pytest.raises(SystemExit) as exited:
        call_command("rebuild_timeline", "--encounter", str(encounter.pk))

    assert exited.value.code == 1
    assert "1 missing, 0 extra, 1 changed (repaired)" in capsys.readouterr().out
    assert services.rebuild_timeline(encounter_id=encounter.pk) == {"missing": 0, "extra": 0, "changed": 0}
    assert [e.type for e in TimelineEntry.objects.filter(encounter=encounter).order_by("occurred_at")] == [
        "encounter.checked_in",
        "encounter.started",
    ]


def test_a_merge_is_flagged_on_the_survivors_open_encounter(celery_worker, clinic):
    from identity.facade import merge_patients

    source, target = register(clinic.tenant, mrn="S-1"), register(clinic.tenant, mrn="T-1", family="Jones")
    encounter = services.open_walk_in(
        tenant_id=clinic.tenant.pk, patient_id=target.id, site_id=clinic.site.pk, actor="t"
    )
    with transaction.atomic():
        merge_patients(tenant_id=clinic.tenant.pk, source_id=source.id, target_id=target.id, reason="dup", actor="t")

    wait_for(
        lambda: TimelineEntry.objects.filter(encounter=encounter, type="patient.merged").exists(), what="merge entry"
    )
    assert services.rebuild_timeline(encounter_id=encounter.pk) == {"missing": 0, "extra": 0, "changed": 0}


def test_live_viewers_get_new_entries_and_resume_from_last_event_id(celery_worker, front_url, clinic, patient):
    encounter = services.open_walk_in(
        tenant_id=clinic.tenant.pk, patient_id=patient.id, site_id=clinic.site.pk, actor="t"
    )
    wait_for(lambda: TimelineEntry.objects.filter(encounter=encounter).exists(), what="check-in entry")
    url = f"{front_url}/api/encounters/{encounter.pk}/stream"
    headers = {"Authorization": f"Bearer {clinic.token}"}

    received: list[dict[str, Any]] = []
    with httpx.Client(timeout=httpx.Timeout(20.0)) as client, client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")

        def later():
            time.sleep(0.5)
            services.move_encounter(
                tenant_id=clinic.tenant.pk, encounter_id=encounter.pk, to=EncounterStatus.IN_PROGRESS, actor="t"
            )

        threading.Thread(target=later).start()
        received = read_events(response, count=2)

    assert [e["data"]["type"] for e in received] == ["encounter.checked_in", "encounter.started"]

    with (
        httpx.Client(timeout=httpx.Timeout(20.0)) as client,
        client.stream("GET", url, headers={**headers, "Last-Event-ID": str(received[0]["id"])}) as response,
    ):
        resumed = read_events(response, count=1)
    assert [e["id"] for e in resumed] == [received[1]["id"]]


def test_the_stream_needs_a_token_and_hides_other_tenants(front_url, clinic, patient):
    encounter = EncounterFactory(tenant=clinic.tenant, patient_id=patient.id, site=clinic.site)
    other = make_clinic()
    url = f"{front_url}/api/encounters/{encounter.pk}/stream"

    with httpx.Client(timeout=5) as client:
        anonymous = client.get(url)
        foreign = client.get(url, headers={"Authorization": f"Bearer {other.token}"})
        bad_resume = client.get(url, headers={"Authorization": f"Bearer {clinic.token}", "Last-Event-ID": "x"})

    assert anonymous.status_code == 401
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    assert bad_resume.status_code == 400


def test_an_unmerge_rebuilds_identically(celery_worker, clinic):
    from identity.facade import merge_patients, unmerge_patient

    source, target = register(clinic.tenant, mrn="S-1"), register(clinic.tenant, mrn="T-1", family="Jones")
    moved = services.open_walk_in(tenant_id=clinic.tenant.pk, patient_id=source.id, site_id=clinic.site.pk, actor="t")
    with transaction.atomic():
        merge_patients(tenant_id=clinic.tenant.pk, source_id=source.id, target_id=target.id, reason="dup", actor="t")
    with transaction.atomic():
        unmerge_patient(tenant_id=clinic.tenant.pk, source_id=source.id, reason="twins", actor="t")

    wait_for(
        lambda: (
            TimelineEntry.objects.filter(encounter=moved, type__in=["patient.merged", "patient.unmerged"]).count() == 2
        ),
        what="both entries",
    )
    assert services.rebuild_timeline(encounter_id=moved.pk) == {"missing": 0, "extra": 0, "changed": 0}


def test_live_positions_are_consecutive(celery_worker, front_url, clinic, patient):
    encounter = services.open_walk_in(
        tenant_id=clinic.tenant.pk, patient_id=patient.id, site_id=clinic.site.pk, actor="t"
    )
    services.move_encounter(
        tenant_id=clinic.tenant.pk, encounter_id=encounter.pk, to=EncounterStatus.IN_PROGRESS, actor="t"
    )
    services.move_encounter(
        tenant_id=clinic.tenant.pk, encounter_id=encounter.pk, to=EncounterStatus.FINISHED, actor="t"
    )
    wait_for(lambda: TimelineEntry.objects.filter(encounter=encounter).count() == 3, what="three entries")
    url = f"{front_url}/api/encounters/{encounter.pk}/stream"

    with (
        httpx.Client(timeout=httpx.Timeout(20.0)) as client,
        client.stream(
            "GET", url, headers={"Authorization": f"Bearer {clinic.token}", "Last-Event-ID": "1"}
        ) as response,
    ):
        resumed = read_events(response, count=2)

    assert [e["id"] for e in resumed] == [2, 3]


def test_a_use_case_owns_its_transaction_and_refuses_to_run_inside_another(clinic, patient):
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.open_walk_in(tenant_id=clinic.tenant.pk, patient_id=patient.id, site_id=clinic.site.pk, actor="t")

    assert not Encounter.objects.exists()
