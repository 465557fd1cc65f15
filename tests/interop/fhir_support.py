"""Helpers of the FHIR API tests: a clinic with charted results, and a client that reads the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.test import Client

from interop.v2.intake import receive
from tests.clinic.factories import api_token
from tests.support.hl7 import LabVisit, lab_visit, sample

FHIR_JSON = "application/fhir+json"


@dataclass
class Fhir:
    """``GET``/``POST`` on /fhir/ with a bearer token; answers the parsed JSON and the response."""

    token: str
    client: Client

    def get(self, path: str, **headers: str) -> Any:
        meta: dict[str, Any] = _meta(headers)
        return self.client.get(f"/fhir/{path}", HTTP_AUTHORIZATION=f"Bearer {self.token}", **meta)

    def post(self, path: str, data: Any = None, content_type: str = FHIR_JSON, **headers: str) -> Any:
        meta: dict[str, Any] = _meta(headers)
        return self.client.generic(
            "POST",
            f"/fhir/{path}",
            data or "",
            content_type=content_type,
            HTTP_AUTHORIZATION=f"Bearer {self.token}",
            **meta,
        )

    def method(self, method: str, path: str, data: str = "") -> Any:
        return self.client.generic(
            method, f"/fhir/{path}", data, content_type=FHIR_JSON, HTTP_AUTHORIZATION=f"Bearer {self.token}"
        )

    def json(self, path: str, status: int = 200, **headers: str) -> dict[str, Any]:
        response = self.get(path, **headers)
        assert response.status_code == status, (response.status_code, response.content[:2000])
        body: dict[str, Any] = response.json()
        return body


def _meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}


_clients = iter(range(1, 1_000_000))


def fhir_client(tenant: Any, scopes: list[str] | None = None) -> Fhir:
    """A client of an API client of ``tenant`` holding ``scopes`` (default system/*.read)."""
    token = api_token(tenant, name=f"fhir-{next(_clients)}", scopes=scopes or ["system/*.read"])
    return Fhir(token=token, client=Client())


def charted_visit(*, slug: str | None = None, final: bool = True) -> LabVisit:
    """A patient in an encounter with two lab orders, and LAB-ORU-1 (preliminary) then LAB-ORU-2
    (final) charted against them: reports with two versions. With ``slug`` the messages are
    addressed (MSH-6) to that clinic, so several clinics of one test can share the lab."""
    visit = lab_visit(slug=slug)
    tenant = visit.clinic.tenant.pk
    for name in ("msfc_LAB-ORU-1.hl7", "msfc_LAB-ORU-2.hl7") if final else ("msfc_LAB-ORU-1.hl7",):
        raw = sample(name)
        if slug:
            raw = raw.replace(b"|TransformationAgent||", f"|TransformationAgent|{slug}|".encode(), 1)
        receipt = receive(raw=raw, transport="mllp", peer="test", tenant_id=None)
        assert receipt.code == "AA", receipt.ack
    assert tenant
    return visit


def entries(bundle: dict[str, Any], mode: str = "match") -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode", "match") == mode]
