"""Operator commands: scriptable, with clear errors and a parseable token line."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from clinic.models import ApiClient, Membership, PolicyTemplate, Site, Tenant
from clinic.services import hash_token
from tests.clinic.factories import TenantFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_with_a_policy_template():
    PolicyTemplate.objects.create(name="nhs-group", settings={"flags": {"x": True}})

    output = run("create_tenant", "--slug", "riverside", "--name", "Riverside Clinic", "--template", "nhs-group")

    tenant = Tenant.objects.get(slug="riverside")
    assert tenant.policy_template is not None
    assert (tenant.name, tenant.policy_template.name) == ("Riverside Clinic", "nhs-group")
    assert "Created tenant riverside" in output


def test_create_tenant_twice_is_a_clear_error_unless_exists_ok():
    run("create_tenant", "--slug", "riverside", "--name", "Riverside")

    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "--slug", "riverside", "--name", "Riverside")
    assert "already exists" in run("create_tenant", "--slug", "riverside", "--name", "Riverside", "--exists-ok")
    assert Tenant.objects.filter(slug="riverside").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "River Side", "--name", "x"], "slug: must be lower-case"),
        (["--slug", "ok", "--name", "   "], "name: must not be blank"),
        (["--slug", "ok", "--name", "x", "--template", "nope"], "No policy template named 'nope'"),
    ],
)
def test_create_tenant_rejects_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        run("create_tenant", *args)
    assert Tenant.objects.count() == 0


def test_every_bad_field_is_listed_on_its_own_line():
    with pytest.raises(CommandError) as caught:
        run("create_tenant", "--slug", "River Side", "--name", "   ")

    lines = str(caught.value).splitlines()
    assert lines[1:] == [
        "  slug: must be lower-case letters, digits and hyphens",
        "  name: must not be blank",
    ]
    assert Tenant.objects.count() == 0


def test_create_api_client_prints_the_token_last_and_stores_only_its_hash():
    tenant = TenantFactory(slug="riverside")

    output = run(
        "create_api_client", "--tenant", "riverside", "--name", "acme-lab", "--scopes", "api:read", "system/*.read"
    )

    token = output.strip().splitlines()[-1]
    client = ApiClient.objects.get(tenant=tenant, name="acme-lab")
    assert client.token_sha256 == hash_token(token)
    assert client.scopes == ["api:read", "system/*.read"]


def test_create_api_client_rejects_unknown_tenant_scope_and_duplicate_name():
    TenantFactory(slug="riverside")
    run("create_api_client", "--tenant", "riverside", "--name", "acme-lab")

    with pytest.raises(CommandError, match="No tenant with slug 'nowhere'"):
        run("create_api_client", "--tenant", "nowhere", "--name", "x")
    with pytest.raises(CommandError, match="Unknown scopes: root"):
        run("create_api_client", "--tenant", "riverside", "--name", "y", "--scopes", "root")
    with pytest.raises(CommandError, match="already has an API client named 'acme-lab'"):
        run("create_api_client", "--tenant", "riverside", "--name", "acme-lab")
    assert ApiClient.objects.count() == 1


def test_setup_demo_twice_keeps_one_of_everything_and_rotates_the_token(client):
    first = run("setup_demo")
    second = run("setup_demo")

    assert Tenant.objects.filter(slug="demo").count() == 1
    assert Site.objects.filter(tenant__slug="demo").count() == 1
    assert Membership.objects.filter(tenant__slug="demo").count() == 3  # admin, clinician, front desk
    assert ApiClient.objects.filter(tenant__slug="demo").count() == 1
    old_token = first.strip().splitlines()[-1].strip()
    new_token = second.strip().splitlines()[-1].strip()
    assert old_token != new_token
    assert ApiClient.objects.get(tenant__slug="demo").token_sha256 == hash_token(new_token)
    assert client.login(username="demo-admin", password="demo-password")
    assert client.get("/admin/").status_code == 200


def test_sweep_outbox_command_reports_what_it_dispatched():
    assert run("sweep_outbox").strip() == "Dispatched 0 undelivered events."
