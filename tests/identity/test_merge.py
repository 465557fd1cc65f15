"""Merge and unmerge: atomic, recorded, repeatable, reversible, and safe under concurrency."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from clinic.models import OutboxEvent
from identity import facade
from identity.contracts import NHS_NUMBER_SYSTEM
from identity.models import MergeRecord, Patient, PatientIdentifier
from tests.clinic.factories import TenantFactory, api_token
from tests.probe.models import ProbeChart
from tests.support.identity import NHS_NUMBERS, mrn_system, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    return TenantFactory()


@pytest.fixture
def api(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(tenant)}")
    return client


def merge(api, source, target, reason="duplicate registration"):
    return api.post(f"/api/patients/{target.id}/merge", {"source": str(source.id), "reason": reason}, format="json")


def identifiers_of(patient_id) -> dict[tuple[str, str], str]:
    return {
        (i.system.uri, i.value): i.use
        for i in PatientIdentifier.objects.filter(patient_id=patient_id).select_related("system")
    }


def test_merge_moves_everything_to_the_target_and_records_it(api, tenant):
    source = register(tenant, nhs=NHS_NUMBERS[0], mrn="OLD-1", family="Smyth")
    target = register(tenant, mrn="KEEP-1")
    charts = [ProbeChart.objects.create(patient_id=source.id, note=f"n{i}") for i in range(2)]
    untouched = ProbeChart.objects.create(patient_id=target.id)

    response = merge(api, source, target)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["already_merged"] is False
    assert body["source"]["active"] is False
    assert body["source"]["links"] == [{"type": "replaced-by", "other": str(target.id)}]
    assert body["target"]["links"] == [{"type": "replaces", "other": str(source.id)}]
    assert identifiers_of(source.id) == {}
    assert identifiers_of(target.id) == {
        (NHS_NUMBER_SYSTEM, NHS_NUMBERS[0]): "old",
        (mrn_system(tenant), "OLD-1"): "old",
        (mrn_system(tenant), "KEEP-1"): "official",
    }
    assert set(ProbeChart.objects.filter(patient_id=target.id).values_list("pk", flat=True)) == {
        *(c.pk for c in charts),
        untouched.pk,
    }
    moved_charts = {m["id"] for m in body["moved"] if m["model"] == "probe.ProbeChart"}
    assert moved_charts == {str(c.pk) for c in charts}
    assert sum(m["model"] == "identity.PatientIdentifier" for m in body["moved"]) == 2
    event = OutboxEvent.objects.get(type="patient.merged")
    assert (event.patient_id, event.payload["source"], event.payload["target"]) == (
        target.id,
        str(source.id),
        str(target.id),
    )
    assert {m["id"] for m in event.payload["moved"] if m["model"] == "probe.ProbeChart"} == moved_charts


def test_source_still_resolves_and_its_old_identifiers_find_the_survivor(api, tenant):
    source = register(tenant, nhs=NHS_NUMBERS[0])
    target = register(tenant, nhs=NHS_NUMBERS[1])
    merge(api, source, target)

    read = api.get(f"/api/patients/{source.id}").json()
    search = api.get("/api/patients", {"identifier": f"{NHS_NUMBER_SYSTEM}|{NHS_NUMBERS[0]}"}).json()
    registration = api.post(
        "/api/patients",
        {"identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": NHS_NUMBERS[0]}], "name": {"family": "Smith"}},
        format="json",
    )

    assert (read["active"], read["links"]) == (False, [{"type": "replaced-by", "other": str(target.id)}])
    assert [p["id"] for p in search["results"]] == [str(target.id)]
    assert (registration.status_code, registration.json()["id"]) == (200, str(target.id))


def test_merging_the_same_pair_again_returns_the_first_merge(api, tenant):
    source, target = register(tenant, mrn="S-1"), register(tenant, mrn="T-1")
    first = merge(api, source, target).json()
    events = OutboxEvent.objects.filter(type="patient.merged").count()

    again = merge(api, source, target)

    assert again.status_code == 200
    assert again.json()["merge_id"] == first["merge_id"]
    assert again.json()["already_merged"] is True
    assert OutboxEvent.objects.filter(type="patient.merged").count() == events
    assert MergeRecord.objects.count() == 1


def test_merging_into_a_merged_patient_follows_its_replaced_by_chain(api, tenant):
    a, b, c = register(tenant, mrn="A-1"), register(tenant, mrn="B-1"), register(tenant, mrn="C-1")
    merge(api, b, c)

    response = merge(api, a, b)

    assert response.status_code == 200
    assert response.json()["target"]["id"] == str(c.id)
    assert Patient.objects.get(pk=a.id).replaced_by_id == c.id


@pytest.mark.parametrize("how", ["itself", "through-chain"])
def test_merging_a_patient_into_itself_is_422(api, tenant, how):
    a, b = register(tenant, mrn="A-1"), register(tenant, mrn="B-1")
    if how == "through-chain":
        merge(api, a, b)
        response = merge(api, b, a)  # a resolves to b
    else:
        response = merge(api, a, a)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "source"


def test_merge_needs_a_reason(api, tenant):
    a, b = register(tenant, mrn="A-1"), register(tenant, mrn="B-1")

    response = merge(api, a, b, reason="  ")

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "reason", "message": "This field may not be blank."}]


def test_a_source_merged_elsewhere_is_a_409(api, tenant):
    a, b, c = register(tenant, mrn="A-1"), register(tenant, mrn="B-1"), register(tenant, mrn="C-1")
    merge(api, a, b)

    response = merge(api, a, c)

    assert response.status_code == 409
    assert response.json()["merged_into"] == str(b.id)


def test_merge_across_tenants_is_impossible(api, tenant):
    ours = register(tenant, mrn="A-1")
    theirs = register(TenantFactory(), mrn="A-1")

    as_source = merge(api, theirs, ours)
    as_target = merge(api, ours, theirs)

    assert as_source.status_code == as_target.status_code == 404
    assert Patient.objects.filter(active=False).count() == 0


def test_unmerge_replays_the_ledger_and_lists_rows_made_since(api, tenant):
    source = register(tenant, nhs=NHS_NUMBERS[0], mrn="OLD-1")
    target = register(tenant, mrn="KEEP-1")
    moved = ProbeChart.objects.create(patient_id=source.id)
    merge(api, source, target)
    made_after = ProbeChart.objects.create(patient_id=target.id, note="charted on the survivor after the merge")

    response = api.post(f"/api/patients/{source.id}/unmerge", {"reason": "they are twins"}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["source"]["active"] is True and body["source"]["links"] == []
    assert body["target"]["links"] == []
    assert identifiers_of(source.id) == {
        (NHS_NUMBER_SYSTEM, NHS_NUMBERS[0]): "official",
        (mrn_system(tenant), "OLD-1"): "official",
    }
    assert identifiers_of(target.id) == {(mrn_system(tenant), "KEEP-1"): "official"}
    assert ProbeChart.objects.get(pk=moved.pk).patient_id == source.id
    assert ProbeChart.objects.get(pk=made_after.pk).patient_id == target.id
    assert body["review"] == [{"model": "probe.ProbeChart", "id": str(made_after.pk), "field": "patient"}]
    assert OutboxEvent.objects.filter(type="patient.unmerged", patient_id=source.id).count() == 1
    # And the pair can be merged again later, as a new merge.
    assert merge(api, source, target).json()["already_merged"] is False


def test_unmerge_of_a_patient_that_is_not_merged_is_409(api, tenant):
    a = register(tenant, mrn="A-1")

    response = api.post(f"/api/patients/{a.id}/unmerge", {"reason": "oops"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "not-merged"


def test_unmerge_is_refused_while_the_target_is_itself_merged(api, tenant):
    a, b, c = register(tenant, mrn="A-1"), register(tenant, mrn="B-1"), register(tenant, mrn="C-1")
    merge(api, a, b)
    merge(api, b, c)

    response = api.post(f"/api/patients/{a.id}/unmerge", {"reason": "oops"}, format="json")

    assert response.status_code == 409
    assert response.json()["merged_into"] == str(c.id)


def test_a_failure_during_merge_leaves_nothing_half_done(tenant, monkeypatch):
    source, target = register(tenant, nhs=NHS_NUMBERS[0]), register(tenant, mrn="T-1")
    ProbeChart.objects.create(patient_id=source.id)
    from identity.services import merging

    def explode(**_kwargs):
        raise RuntimeError("the event store is unavailable")

    monkeypatch.setattr(merging, "publish", explode)

    with pytest.raises(RuntimeError), transaction.atomic():
        facade.merge_patients(tenant_id=tenant.pk, source_id=source.id, target_id=target.id, reason="r", actor="t")

    assert Patient.objects.get(pk=source.id).active is True
    assert ProbeChart.objects.get().patient_id == source.id
    assert set(identifiers_of(source.id).values()) == {"official"}
    assert MergeRecord.objects.count() == 0


def run_concurrently(*calls):
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_racing_merges_of_the_same_pair_merge_once(transactional_db, tenant):
    source, target = register(tenant, nhs=NHS_NUMBERS[0]), register(tenant, mrn="T-1")

    def do_merge():
        with transaction.atomic(durable=True):
            return facade.merge_patients(
                tenant_id=tenant.pk, source_id=source.id, target_id=target.id, reason="dup", actor="t"
            )

    results = run_concurrently(*[do_merge] * 6)

    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.merge_id for r in results}) == 1
    assert sorted(r.already_merged for r in results) == [False] + [True] * 5
    assert MergeRecord.objects.count() == 1
    assert OutboxEvent.objects.filter(type="patient.merged").count() == 1


def test_merges_in_opposite_directions_do_not_deadlock_and_one_wins(transactional_db, tenant):
    a, b = register(tenant, mrn="A-1"), register(tenant, mrn="B-1")

    def merge_into(source, target):
        def call():
            with transaction.atomic(durable=True):
                return facade.merge_patients(
                    tenant_id=tenant.pk, source_id=source.id, target_id=target.id, reason="d", actor="t"
                )

        return call

    results = run_concurrently(merge_into(a, b), merge_into(b, a))

    outcomes = [r for r in results if not isinstance(r, Exception)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(outcomes) == 1
    assert len(errors) == 1 and getattr(errors[0], "code", None) == "invalid-merge"
    assert Patient.objects.filter(active=True).count() == 1


def test_a_merge_racing_a_registration_with_the_source_identifier_makes_no_new_patient(transactional_db, tenant):
    for round_ in range(5):
        source = register(tenant, nhs=NHS_NUMBERS[round_], family=f"S{round_}")
        target = register(tenant, mrn=f"T-{round_}", family=f"T{round_}")
        before = Patient.objects.count()

        def do_merge(source=source, target=target):
            with transaction.atomic(durable=True):
                return facade.merge_patients(
                    tenant_id=tenant.pk, source_id=source.id, target_id=target.id, reason="d", actor="t"
                )

        def do_register(round_=round_):
            return register(tenant, nhs=NHS_NUMBERS[round_], family="Anyone", confirm_new=True)

        merged, registered = run_concurrently(do_merge, do_register)

        assert not isinstance(merged, Exception), merged
        assert not isinstance(registered, Exception), registered
        assert Patient.objects.count() == before
        assert registered.id in {source.id, target.id}
        assert facade.resolve_patient_id(tenant_id=tenant.pk, patient_id=registered.id) == target.id


def test_merge_of_unknown_patients_is_404(api, tenant):
    a = register(tenant, mrn="A-1")

    unknown_source = api.post(
        f"/api/patients/{a.id}/merge", {"source": str(uuid.uuid4()), "reason": "r"}, format="json"
    )
    unknown_target = api.post(
        f"/api/patients/{uuid.uuid4()}/merge", {"source": str(a.id), "reason": "r"}, format="json"
    )

    assert unknown_source.status_code == unknown_target.status_code == 404


def test_a_row_written_during_a_merge_lands_on_the_survivor(transactional_db, tenant, monkeypatch):
    import time

    from identity import references

    source, target = register(tenant, nhs=NHS_NUMBERS[0]), register(tenant, mrn="T-1")
    real_registered = references.registered

    def slow_registered():
        time.sleep(0.5)  # the merge holds its locks a while, as a big merge would
        return real_registered()

    monkeypatch.setattr(references, "registered", slow_registered)

    def do_merge():
        with transaction.atomic(durable=True):
            return facade.merge_patients(
                tenant_id=tenant.pk, source_id=source.id, target_id=target.id, reason="d", actor="t"
            )

    def write_chart():
        time.sleep(0.2)  # the merge has begun
        with transaction.atomic(durable=True):
            patient_id = facade.lock_patient_for_write(tenant_id=tenant.pk, patient_id=source.id)
            return ProbeChart.objects.create(patient_id=patient_id, note="charted during the merge")

    merged, chart = run_concurrently(do_merge, write_chart)

    assert not isinstance(merged, Exception), merged
    assert ProbeChart.objects.get(pk=chart.pk).patient_id == target.id


def test_writing_against_a_merged_patient_writes_against_the_survivor(tenant):
    source, target = register(tenant, mrn="S-1"), register(tenant, mrn="T-1")
    with transaction.atomic():
        facade.merge_patients(tenant_id=tenant.pk, source_id=source.id, target_id=target.id, reason="d", actor="t")

    with transaction.atomic():
        assert facade.lock_patient_for_write(tenant_id=tenant.pk, patient_id=source.id) == target.id
    with pytest.raises(Exception, match="No such patient"), transaction.atomic():
        facade.lock_patient_for_write(tenant_id=TenantFactory().pk, patient_id=target.id)


def test_records_with_visits_in_progress_at_one_site_cannot_be_merged(api, tenant):
    from encounters import services as encounters
    from encounters.contracts import EncounterStatus
    from tests.clinic.factories import SiteFactory

    site = SiteFactory(tenant=tenant)
    source, target = register(tenant, mrn="S-1"), register(tenant, mrn="T-1")
    for patient in (source, target):
        visit = encounters.open_walk_in(tenant_id=tenant.pk, patient_id=patient.id, site_id=site.pk, actor="t")
        encounters.move_encounter(tenant_id=tenant.pk, encounter_id=visit.pk, to=EncounterStatus.IN_PROGRESS, actor="t")

    response = merge(api, source, target)

    assert response.status_code == 409
    assert "both records have a visit in progress at the same site" in response.json()["detail"]
    assert Patient.objects.get(pk=source.id).active is True
