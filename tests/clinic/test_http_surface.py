"""Public pages of the HTTP surface: the OpenAPI schema, its docs, health."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_readable_without_a_token(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Clinic platform API"
    assert {"/api/me", "/api/sites", "/api/sites/{site_id}", "/api/events", "/api/events/{event_id}"} <= set(
        schema["paths"]
    )


def test_api_docs_are_readable_without_a_token_and_served_locally(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html  # clinics may be offline: assets come from this server


def test_health_reports_database_and_broker(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_health_reports_a_broker_outage_without_failing(client, broker_up):
    broker_up.down()

    body = client.get("/healthz").json()

    assert body["status"] == "ok"
    assert body["checks"]["broker"].startswith("unavailable")
