"""Helpers of the web app's tests: staff users of a tenant in each role, signed in."""

from __future__ import annotations

from typing import Any

from django.test import Client

from clinic.contracts import Role
from clinic.models import Tenant
from tests.clinic.factories import MembershipFactory, UserFactory

PASSWORD = "pw-secret-123"  # UserFactory's


def member(tenant: Tenant, role: Role = Role.CLINICIAN, **user: Any):
    """A user with ``role`` in ``tenant`` (password ``PASSWORD``)."""
    return MembershipFactory(tenant=tenant, role=role.value, user=UserFactory(**user)).user


def signed_in(user, *, client: Client | None = None, enforce_csrf: bool = False) -> Client:
    """A browser-like client signed in through the sign-in page as ``user``."""
    client = client or Client(enforce_csrf_checks=enforce_csrf)
    if enforce_csrf:
        client.get("/login/")
        token = client.cookies["csrftoken"].value
        response = client.post(
            "/login/", {"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": token}
        )
    else:
        response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client
