"""python manage.py seed_demo: every app's demo step for a tenant, lowest layer first; the same
after a second run. (What the demo holds is the apps' business: tests do not assert on it.)"""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from clinic import demo
from clinic.errors import InvalidDemoStep
from tests.clinic.factories import SiteFactory, TenantFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._base_manager.count() for model in apps.get_models()}


def test_seed_demo_seeds_a_tenant_and_a_second_run_changes_nothing():
    tenant = TenantFactory(slug="sunny")
    SiteFactory(tenant=tenant)
    before = row_counts()

    first = run("--tenant", "sunny")
    after_first = row_counts()
    run("--tenant", "sunny")

    assert after_first != before
    assert row_counts() == after_first
    assert len(first.splitlines()) >= len(demo.steps())  # every step says what it seeded


def test_seed_demo_needs_a_tenant_with_a_site_and_then_writes_nothing():
    TenantFactory(slug="empty")
    before = row_counts()

    with pytest.raises(CommandError, match="No tenant 'nowhere'"):
        run("--tenant", "nowhere")
    with pytest.raises(CommandError, match="has no site"):
        run("--tenant", "empty")
    assert row_counts() == before


def test_demo_steps_run_lowest_layer_first():
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    layers_contract = next(c for c in pyproject["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    # A layer may hold siblings ("web | interop"): they share its place.
    place = {
        app.strip(): index
        for index, layer in enumerate(reversed(layers_contract["layers"]))
        for app in layer.replace(":", "|").split("|")
    }

    ran = [place[step.app] for step in demo.steps()]

    assert ran == sorted(ran)
    assert {step.app for step in demo.steps()} >= {"terminology", "encounters", "billing", "interop"}


def test_a_demo_step_name_is_taken_once():
    def seed(*, tenant_id: int) -> list[str]:
        return []

    with pytest.raises(InvalidDemoStep):
        demo.register(name="billing.fees", order=50, seed=seed)
    with pytest.raises(InvalidDemoStep):
        demo.register(name="nameless", order=50, seed=seed)
