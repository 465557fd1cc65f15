"""The message store's bookkeeping after intake: ACK times handed over, held results released."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from django.utils import timezone

from interop.models import InboundMessage
from interop.v2 import store
from tests.interop.factories import InboundMessageFactory

pytestmark = pytest.mark.django_db


def test_the_time_an_ack_was_handed_over_is_recorded_once_per_message():
    first, second = InboundMessageFactory(), InboundMessageFactory()
    earlier = timezone.now() - timedelta(seconds=5)
    store.mark_acknowledged([(first.pk, earlier)])

    store.mark_acknowledged([(first.pk, timezone.now()), (second.pk, timezone.now())])

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.acknowledged_at == earlier
    assert second.acknowledged_at is not None and second.acknowledged_at > earlier


def test_a_released_held_result_marks_the_messages_that_carried_it_processed():
    held_id = uuid4()
    carried = InboundMessageFactory(status="held", held_id=held_id, committed_at=None)
    other = InboundMessageFactory(status="held", held_id=uuid4())
    produced = {"patient": str(uuid4()), "events": [str(uuid4())]}

    assert store.mark_released(held_id=held_id, produced=produced, status="charted") == 1

    carried.refresh_from_db()
    assert carried.status == "processed" and carried.produced == produced
    assert [str(e) for e in carried.event_ids] == produced["events"] and str(carried.patient_id) == produced["patient"]
    assert carried.committed_at is not None
    assert InboundMessage.objects.get(pk=other.pk).status == "held"


def test_a_released_held_result_charted_before_marks_its_messages_duplicate():
    held_id = uuid4()
    carried = InboundMessageFactory(status="held", held_id=held_id)

    store.mark_released(held_id=held_id, produced={"patient": None, "events": []}, status="duplicate")

    carried.refresh_from_db()
    assert carried.status == "duplicate" and carried.event_ids == [] and carried.patient_id is None


def test_releasing_again_changes_nothing():
    held_id = uuid4()
    InboundMessageFactory(status="held", held_id=held_id)
    store.mark_released(held_id=held_id, produced={"events": []}, status="charted")

    assert store.mark_released(held_id=held_id, produced={"events": []}, status="charted") == 0
