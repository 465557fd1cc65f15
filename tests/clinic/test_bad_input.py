"""Bad input gets a clear problem-JSON answer naming what is wrong, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from clinic.models import Site
from tests.clinic.factories import TenantFactory, api_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(api):
    tenant = TenantFactory()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(tenant, scopes=['api:read', 'api:write', 'tenant:admin'])}")
    return api


def post_raw(api, body: bytes | str, content_type: str = "application/json"):
    return api.generic("POST", "/api/sites", body, content_type=content_type)


def errors_by_field(response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json().get("errors", [])}


def test_valid_site_is_created(admin_api):
    response = admin_api.post("/api/sites", {"code": "north", "name": "North Surgery"}, format="json")

    assert response.status_code == 201
    assert response.json()["code"] == "north"
    assert Site.objects.filter(code="north").exists()


def test_malformed_json_is_400(admin_api):
    response = post_raw(admin_api, '{"code": "north", ')

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "malformed-body"
    assert "JSON parse error" in body["detail"]
    assert Site.objects.count() == 0


def test_unknown_fields_are_each_named(admin_api):
    response = admin_api.post(
        "/api/sites", {"code": "north", "name": "North", "colour": "red", "tenant": 7}, format="json"
    )

    assert response.status_code == 422
    assert errors_by_field(response) == {"colour": "Unknown field.", "tenant": "Unknown field."}
    assert Site.objects.count() == 0


def test_wrong_types_and_missing_fields_are_each_named(admin_api):
    response = admin_api.post("/api/sites", {"code": 12, "timezone": ["UTC"]}, format="json")

    assert response.status_code == 422
    assert errors_by_field(response) == {
        "code": "Must be a string.",
        "name": "This field is required.",
        "timezone": "Must be a string.",
    }


def test_domain_validation_names_the_field(admin_api):
    response = admin_api.post(
        "/api/sites", {"code": "North Site", "name": "North", "timezone": "Mars/Olympus"}, format="json"
    )

    assert response.status_code == 422
    assert errors_by_field(response) == {
        "code": "must be lower-case letters, digits and hyphens",
        "timezone": "unknown time zone 'Mars/Olympus' (use an IANA name)",
    }


def test_duplicate_site_code_is_409(admin_api):
    admin_api.post("/api/sites", {"code": "north", "name": "North"}, format="json")

    response = admin_api.post("/api/sites", {"code": "north", "name": "North again"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "site-code-taken"
    assert Site.objects.count() == 1


@pytest.mark.parametrize("body", ["[]", '"north"', "42", "null"])
def test_body_that_is_not_an_object_is_422(admin_api, body):
    response = post_raw(admin_api, body)

    assert response.status_code == 422
    assert "body" in errors_by_field(response)


def test_wrong_media_type_is_415(admin_api):
    response = post_raw(admin_api, "code=north", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.json()["status"] == 415


@override_settings(CLINIC_MAX_REQUEST_BODY_BYTES=1000)
def test_body_over_the_limit_is_413_before_it_is_read(admin_api):
    response = post_raw(admin_api, '{"code": "north", "name": "' + "x" * 2000 + '"}')

    assert response.status_code == 413
    assert "at most 1000 bytes" in response.json()["detail"]
    assert Site.objects.count() == 0


def test_bad_query_parameter_is_400_naming_it(admin_api):
    response = admin_api.get("/api/events?patient=not-a-uuid&undelivered=maybe")

    assert response.status_code == 400
    assert set(errors_by_field(response)) == {"patient", "undelivered"}


def test_unknown_api_route_is_a_json_404(admin_api):
    response = admin_api.get("/api/no/such/thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "No API endpoint at /api/no/such/thing."


def test_wrong_method_is_405_problem(admin_api):
    response = admin_api.delete("/api/sites")

    assert response.status_code == 405
    assert response.json()["detail"] == 'Method "DELETE" not allowed.'


def test_non_numeric_id_in_path_is_404_not_500(admin_api):
    assert admin_api.get("/api/sites/abc").status_code == 404
    assert admin_api.get("/api/events/not-a-uuid").status_code == 404


def test_errors_are_json_even_when_a_browser_asks_for_html(api):
    unauthenticated = api.get("/api/me", HTTP_ACCEPT="text/html")
    TenantFactory()

    assert unauthenticated.status_code == 401
    assert unauthenticated["Content-Type"] == "application/problem+json"
    assert unauthenticated.json()["status"] == 401


def test_too_many_query_parameters_is_400(admin_api):
    query = "&".join(f"p{i}=1" for i in range(1100))

    response = admin_api.get(f"/api/events?{query}")

    assert response.status_code == 400
    assert response.json()["code"] == "too-many-parameters"


def test_json_nested_too_deeply_is_400(admin_api):
    response = post_raw(admin_api, "[" * 100_000 + "]" * 100_000)

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_forged_pagination_cursor_is_4xx_problem(admin_api):
    import base64

    cursor = base64.b64encode(b"p=garbage").decode()

    response = admin_api.get(f"/api/events?cursor={cursor}")

    assert response.status_code in (400, 404)
    assert response["Content-Type"] == "application/problem+json"


def test_post_to_an_unknown_api_route_with_a_session_is_404_not_a_csrf_page(client):
    from tests.clinic.factories import MembershipFactory

    client.handler.enforce_csrf_checks = True
    client.force_login(MembershipFactory().user)

    response = client.post("/api/nothing/here", {}, content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_session_post_without_csrf_token_is_a_problem_json_403(client):
    from tests.clinic.factories import MembershipFactory

    client.handler.enforce_csrf_checks = True
    client.force_login(MembershipFactory(role="admin").user)

    response = client.post("/api/sites", {"code": "x", "name": "X"}, content_type="application/json")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "CSRF" in response.json()["detail"]


def test_chunked_body_over_the_limit_is_413_without_reaching_django():
    import io

    from config.wsgi import BodyLimit

    reached = []

    def app(environ, start_response):
        reached.append(environ)
        return []

    started: list[tuple[str, list[tuple[str, str]]]] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/sites",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(b"x" * 1800),  # the server has taken the chunks apart
    }
    body = BodyLimit(app, limit=1000)(environ, lambda status, headers: started.append((status, headers)))

    assert reached == []
    assert started[0][0].startswith("413")
    assert b"over 1000 bytes" in b"".join(body)


def test_chunked_body_under_the_limit_reaches_django_whole():
    import io

    from config.wsgi import BodyLimit

    seen: dict[str, Any] = {}

    def app(environ, start_response):
        seen["length"] = environ["CONTENT_LENGTH"]
        seen["body"] = environ["wsgi.input"].read()
        return []

    environ = {"PATH_INFO": "/x", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b'{"a":1}')}
    BodyLimit(app, limit=1000)(environ, lambda status, headers: None)

    assert seen["body"] == b'{"a":1}'
    assert seen["length"] == "7"
