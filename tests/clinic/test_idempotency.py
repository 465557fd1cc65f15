"""Idempotency keys: the first outcome is returned to every retry, concurrent or later."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from clinic.errors import InvalidInput
from clinic.facade import claim_idempotency_key, complete_idempotency_key
from clinic.models import IdempotencyKey, Site
from tests.clinic.factories import TenantFactory

pytestmark = pytest.mark.django_db


def create_site_once(tenant_id: int, key: str, request: dict[str, str]) -> dict[str, object]:
    """A use case protected by an Idempotency-Key: creates a site at most once per key."""
    with transaction.atomic():
        replay = claim_idempotency_key(tenant_id=tenant_id, scope="test.create_site", key=key, request=request)
        if replay is not None:
            return {**replay.result, "replayed": True}
        site = Site.objects.create(tenant_id=tenant_id, code=f"s-{Site.objects.count()}", name=request["name"])
        result = {"site_id": site.pk}
        complete_idempotency_key(tenant_id=tenant_id, scope="test.create_site", key=key, result=result)
        return {**result, "replayed": False}


def test_retry_with_the_same_key_returns_the_first_outcome():
    tenant = TenantFactory()

    first = create_site_once(tenant.pk, "key-1", {"name": "North"})
    retry = create_site_once(tenant.pk, "key-1", {"name": "North"})

    assert retry == {"site_id": first["site_id"], "replayed": True}
    assert Site.objects.count() == 1


def test_same_key_with_a_different_request_is_refused():
    tenant = TenantFactory()
    create_site_once(tenant.pk, "key-1", {"name": "North"})

    with pytest.raises(InvalidInput, match="different request"):
        create_site_once(tenant.pk, "key-1", {"name": "South"})
    assert Site.objects.count() == 1


def test_keys_are_per_tenant():
    first, second = TenantFactory(), TenantFactory()

    a = create_site_once(first.pk, "shared-key", {"name": "North"})
    b = create_site_once(second.pk, "shared-key", {"name": "North"})

    assert a["site_id"] != b["site_id"]
    assert not b["replayed"]


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, "ünïcode"])
def test_malformed_key_is_refused(key):
    tenant = TenantFactory()

    with pytest.raises(InvalidInput, match="Idempotency-Key"):
        create_site_once(tenant.pk, key, {"name": "North"})


def test_failed_use_case_leaves_the_key_free_for_a_retry():
    tenant = TenantFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        claim_idempotency_key(tenant_id=tenant.pk, scope="test.create_site", key="k", request={"name": "N"})
        raise RuntimeError("the use case failed")

    assert not IdempotencyKey.objects.exists()
    assert create_site_once(tenant.pk, "k", {"name": "N"})["replayed"] is False


def test_concurrent_requests_with_one_key_do_the_work_once(transactional_db):
    tenant = TenantFactory()
    barrier = threading.Barrier(12)
    results: list[dict[str, object]] = []

    def call() -> None:
        barrier.wait()
        try:
            results.append(create_site_once(tenant.pk, "rush", {"name": "North"}))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Site.objects.count() == 1
    assert len(results) == 12
    assert {r["site_id"] for r in results} == {Site.objects.get().pk}
    assert sum(not r["replayed"] for r in results) == 1
