"""docs/events.md is the event catalogue generated from the event registry: it cannot go stale."""

from __future__ import annotations

import io
from pathlib import Path

from django.apps import apps
from django.core.management import call_command

from clinic import catalogue, events

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def generated() -> str:
    out = io.StringIO()
    call_command("event_catalogue", stdout=out)
    return out.getvalue()


def test_docs_events_md_is_the_catalogue_the_registry_generates():
    # On failure: python manage.py event_catalogue --output docs/events.md
    assert DOCS.read_text() == generated()


def test_the_catalogue_lists_every_event_type_of_the_product_with_its_fields_and_subscribers():
    product = catalogue.product_apps([config.name for config in apps.get_app_configs()])
    text = generated()

    listed = [t for t, c in events.contracts().items() if c.__module__.split(".")[0] in product]
    assert listed and all(f"\n## {event_type}\n" in text for event_type in listed)
    assert "probe." not in text  # the test app's own event types are not the product's
    assert "| `placer_number` | text | our order number (ORC-2/OBR-2) |" in text
    assert "- `interop.order_messages` (`interop.handlers.send_order_to_lab`)" in text
    assert 'On a timeline: "Ordered {display} (placer {placer_number})", reference `order:{order_id}`.' in text
