"""Placing and cancelling lab orders: order, charge and event commit together or not at all."""

from __future__ import annotations

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from billing.models import ChargeItem
from clinic.models import OutboxEvent
from encounters import services as encounters
from encounters.contracts import EncounterStatus
from encounters.models import TimelineEntry
from orders.models import ServiceRequest
from tests.support.identity import NHS_NUMBERS, register
from tests.support.visit import LAB_MAP_VERSION, LAB_TESTS, lab_catalogue, make_clinic

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic():
    clinic = make_clinic(days=1)
    lab_catalogue(clinic.tenant)
    return clinic


@pytest.fixture
def api(clinic):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clinic.token}")
    return client


@pytest.fixture
def encounter(clinic):
    patient = register(clinic.tenant, nhs=NHS_NUMBERS[0])
    return encounters.open_walk_in(tenant_id=clinic.tenant.pk, patient_id=patient.id, site_id=clinic.site.pk, actor="t")


def place(api, encounter, *codes, **extra):
    return api.post(f"/api/encounters/{encounter.pk}/orders", {"codes": list(codes)}, format="json", **extra)


def test_the_catalogue_lists_orderable_tests_with_loinc(api):
    items = {i["code"]: i for i in api.get("/api/orders/catalogue").json()["results"]}

    assert sorted(items) == sorted(t.code for t in LAB_TESTS)
    assert items["FBC"] == {
        "code": "FBC",
        "display": "Full blood count",
        "loinc": "24317-0",
        "loinc_display": "Hemogram and platelet count, automated",
    }


def test_a_catalogue_test_without_loinc_is_listed_without_it(api, clinic):
    from terminology import services as terminology
    from terminology.contracts import catalogue_system

    terminology.ensure_concepts(
        system_uri=catalogue_system(clinic.tenant.slug), tenant_id=clinic.tenant.pk, concepts=[("NEW", "New test")]
    )

    items = {i["code"]: i for i in api.get("/api/orders/catalogue").json()["results"]}

    assert items["NEW"] == {"code": "NEW", "display": "New test", "loinc": None, "loinc_display": None}


def test_placing_orders_creates_each_order_with_its_charge_and_event(api, encounter):
    response = place(api, encounter, "FBC", "HBA1C")

    assert response.status_code == 201
    orders = response.json()["results"]
    assert [o["code"] for o in orders] == ["FBC", "HBA1C"]
    assert orders[0]["loinc"] == {
        "system": "http://loinc.org",
        "code": "24317-0",
        "display": "Hemogram and platelet count, automated",
    }
    assert orders[0]["coded"]["map"] == {"name": "lab-catalogue-to-loinc", "version": LAB_MAP_VERSION}
    assert orders[0]["placer_number"].startswith("ORD")
    assert orders[0]["placer_number"] != orders[1]["placer_number"]
    account = api.get(f"/api/encounters/{encounter.pk}/charges").json()
    assert [(c["code"], c["unit_price"], c["status"]) for c in account["charges"]] == [
        ("T-HAEM", "10.00", "billed"),
        ("T-A1C", "7.25", "billed"),
    ]
    assert account["total"] == {"GBP": "17.25"}
    events = OutboxEvent.objects.filter(encounter_id=encounter.pk, type__in=["order.placed", "charge.posted"])
    assert sorted(e.type for e in events) == ["charge.posted", "charge.posted", "order.placed", "order.placed"]
    placed = OutboxEvent.objects.filter(type="order.placed").first()
    assert placed.payload["visit_number"] == encounter.visit_number


def test_cancel_reverses_the_charge_and_tells_everyone(api, encounter):
    order = place(api, encounter, "FBC").json()["results"][0]

    first = api.post(f"/api/orders/{order['id']}/cancel")
    again = api.post(f"/api/orders/{order['id']}/cancel")

    assert first.json()["status"] == again.json()["status"] == "revoked"
    assert first.json()["version"] == 2
    account = api.get(f"/api/encounters/{encounter.pk}/charges").json()
    assert [c["status"] for c in account["charges"]] == ["reversed"]
    assert account["total"] == {}
    assert OutboxEvent.objects.filter(type="order.cancelled").count() == 1
    assert OutboxEvent.objects.filter(type="charge.reversed").count() == 1


def test_a_failing_billing_step_leaves_no_order_no_charge_no_event_and_no_timeline_entry(api, encounter, monkeypatch):
    from orders import services

    def billing_down(**_kwargs):
        raise RuntimeError("billing is down")

    monkeypatch.setattr(services, "post_charge", billing_down)
    before = OutboxEvent.objects.count()

    response = place(api, encounter, "FBC", "TSH")

    assert response.status_code == 500

    assert ServiceRequest.objects.count() == 0
    assert ChargeItem.objects.count() == 0
    assert OutboxEvent.objects.count() == before
    assert not TimelineEntry.objects.filter(type="order.placed").exists()


def test_a_failing_reversal_leaves_the_order_active_and_charged(api, encounter, monkeypatch):
    from orders import services

    order = place(api, encounter, "FBC").json()["results"][0]
    before = OutboxEvent.objects.count()

    def billing_down(**_kwargs):
        raise RuntimeError("billing is down")

    monkeypatch.setattr(services, "reverse_charges", billing_down)
    assert api.post(f"/api/orders/{order['id']}/cancel").status_code == 500

    assert ServiceRequest.objects.get(pk=order["id"]).status == "active"
    assert list(ChargeItem.objects.values_list("status", flat=True)) == ["billed"]
    assert OutboxEvent.objects.count() == before


def test_placing_orders_owns_its_transaction_and_refuses_to_run_inside_another(clinic, encounter):
    from orders import services

    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.place_orders(tenant_id=clinic.tenant.pk, encounter_id=encounter.pk, codes=["FBC"], actor="t")

    assert ServiceRequest.objects.count() == 0


def test_an_unmapped_billing_code_refuses_the_order_with_the_reason(api, clinic, encounter):
    from terminology import services as terminology
    from terminology.contracts import catalogue_system

    terminology.ensure_concepts(
        system_uri=catalogue_system(clinic.tenant.slug), tenant_id=clinic.tenant.pk, concepts=[("NEW", "New test")]
    )

    response = place(api, encounter, "FBC", "NEW")

    assert response.status_code == 422
    assert response.json()["code"] == "unmapped-billing-code"
    assert "NEW has no billing code" in response.json()["detail"]
    assert ServiceRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"codes": ["NOPE"]}, 422, "unknown-catalogue-code"),
        ({"codes": []}, 422, "invalid"),
        ({"codes": ["FBC", "FBC"]}, 422, "invalid"),
        ({"codes": "FBC"}, 422, "invalid"),
        ({"codes": ["FBC"], "priority": "whenever"}, 422, "invalid"),
    ],
)
def test_bad_orders_are_refused(api, encounter, body, status, code):
    response = api.post(f"/api/encounters/{encounter.pk}/orders", body, format="json")

    assert response.status_code == status
    assert response.json()["code"] == code
    assert ServiceRequest.objects.count() == 0


def test_ordering_on_a_finished_encounter_is_refused(api, clinic, encounter):
    encounters.move_encounter(
        tenant_id=clinic.tenant.pk, encounter_id=encounter.pk, to=EncounterStatus.FINISHED, actor="t"
    )

    response = place(api, encounter, "FBC")

    assert response.status_code == 409
    assert response.json()["detail"] == "The encounter is finished: orders need an open encounter."


def test_another_tenants_encounter_and_order_do_not_exist(api, encounter):
    other = make_clinic(days=1)
    other_api = APIClient()
    other_api.credentials(HTTP_AUTHORIZATION=f"Bearer {other.token}")
    order = place(api, encounter, "FBC").json()["results"][0]

    assert place(other_api, encounter, "FBC").status_code == 404
    assert other_api.get(f"/api/orders/{order['id']}").status_code == 404
    assert other_api.post(f"/api/orders/{order['id']}/cancel").status_code == 404
    assert other_api.get(f"/api/encounters/{encounter.pk}/charges").status_code == 404


def test_a_retried_order_with_its_idempotency_key_returns_the_first_orders(api, encounter):
    first = place(api, encounter, "FBC", "CRP", HTTP_IDEMPOTENCY_KEY="ord-1")
    retry = place(api, encounter, "FBC", "CRP", HTTP_IDEMPOTENCY_KEY="ord-1")

    assert (first.status_code, retry.status_code) == (201, 200)
    assert [o["id"] for o in retry.json()["results"]] == [o["id"] for o in first.json()["results"]]
    assert ServiceRequest.objects.count() == 2
    assert ChargeItem.objects.count() == 2


def test_an_encounter_with_active_orders_cannot_be_cancelled(api, encounter):
    order = place(api, encounter, "FBC").json()["results"][0]

    refused = api.post(f"/api/encounters/{encounter.pk}/cancel")
    api.post(f"/api/orders/{order['id']}/cancel")
    allowed = api.post(f"/api/encounters/{encounter.pk}/cancel")

    assert refused.status_code == 409
    assert refused.json()["detail"] == "The encounter cannot be cancelled: it has 1 active order(s); cancel them first"
    assert allowed.json()["status"] == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_a_failed_order_or_cancel_leaves_nothing_on_the_timeline_even_with_a_worker(celery_worker, monkeypatch):
    import time

    from orders import services

    clinic = make_clinic(days=1)
    lab_catalogue(clinic.tenant)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {clinic.token}")
    patient = register(clinic.tenant, nhs=NHS_NUMBERS[0])
    encounter = encounters.open_walk_in(
        tenant_id=clinic.tenant.pk, patient_id=patient.id, site_id=clinic.site.pk, actor="t"
    )
    kept = place(api, encounter, "CRP").json()["results"][0]

    def billing_down(**_kwargs):
        raise RuntimeError("billing is down")

    monkeypatch.setattr(services, "post_charge", billing_down)
    monkeypatch.setattr(services, "reverse_charges", billing_down)
    assert place(api, encounter, "FBC").status_code == 500
    assert api.post(f"/api/orders/{kept['id']}/cancel").status_code == 500
    from tests.support.waiting import wait_for

    wait_for(
        lambda: TimelineEntry.objects.filter(encounter=encounter, type="charge.posted").exists(), what="the kept order"
    )
    time.sleep(1.0)  # anything else dispatched would have landed by now

    entries = sorted(TimelineEntry.objects.filter(encounter=encounter).values_list("type", flat=True))
    assert entries == ["charge.posted", "encounter.checked_in", "order.placed"]
    assert ServiceRequest.objects.get().status == "active"
