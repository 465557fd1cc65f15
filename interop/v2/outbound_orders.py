"""Outbound order messages: one for each version of a lab order, in the shape the lab's outbound
profile says (``order_profiles``: ORM^O01 or OML^O21), built and checked by ``order_messages``,
recorded once per (lab, order, order version) and delivered over MLLP until the lab
acknowledges it. A message that cannot satisfy the lab's profile is recorded as ``invalid``
with the field that failed, and never sent.

The ACK is recorded in ``OutboundMessage`` only; nothing is written back into clinical tables.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import partial
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clinic.contracts import Event
from clinic.facade import get_tenant
from clinic.rows import RowQuery, Where
from encounters.facade import get_encounter
from encounters.facade import read_rows as read_encounter_rows
from identity.facade import get_patient
from interop.errors import MLLPError
from interop.models import LabPartner, OutboundMessage
from interop.v2 import mllp
from interop.v2.ack import SENDING_APPLICATION
from interop.v2.order_messages import OrderFacts, build_order_message
from interop.v2.order_profiles import OrderProfile, ProfileUnsatisfied, get_profile
from orders.contracts import ORDER_CANCELLED, ORDER_PLACED, OrderEvent

logger = logging.getLogger("interop.outbound")

ORDER_CONTROL = {ORDER_PLACED: "NW", ORDER_CANCELLED: "CA"}

# --- Delivering ----------------------------------------------------------------------------------


def order_lab(*, tenant_id: int) -> LabPartner | None:
    """Where the tenant's lab orders go: its (first) active lab partner reachable over MLLP."""
    return (
        LabPartner.objects.filter(tenant_id=tenant_id, active=True)
        .exclude(Q(mllp_host="") | Q(mllp_port__isnull=True))
        .order_by("created_at", "id")
        .first()
    )


def queue_order_message(*, event: Event, order: OrderEvent) -> OutboundMessage | None:
    """Record the order message for an order event (``order``: its payload; idempotent per order
    version) in the shape of the lab's outbound profile, and send it after commit. None when the
    tenant has no lab to send to."""
    partner = order_lab(tenant_id=event.tenant_id)
    if partner is None:
        logger.info("outbound.no_lab tenant=%s event=%s", event.tenant_id, event.id)
        return None
    existing = OutboundMessage.objects.filter(
        partner=partner, order_id=order.order_id, order_version=order.version
    ).first()
    if existing is not None:
        return existing
    assert event.patient_id is not None
    profile = get_profile(partner.outbound_profile)
    control_id = uuid.uuid4().hex[:20].upper()
    payload, status, problem = "", OutboundMessage.Status.PENDING, ""
    try:
        payload = build_order_message(
            profile,
            order_facts(event, order, partner, profile),
            control_id=control_id,
            sent_at=timezone.now(),
            order_control=ORDER_CONTROL[event.type],
            sending_application=SENDING_APPLICATION,
        )
    except ProfileUnsatisfied as exc:
        # Never sent: the admin's *Outbound messages* shows it with the field that failed.
        status, problem = OutboundMessage.Status.INVALID, str(exc)
        logger.warning("outbound.invalid partner=%s event=%s field=%s", partner.pk, event.id, exc.field)
    message = OutboundMessage.objects.create(
        tenant_id=event.tenant_id,
        partner=partner,
        order_id=order.order_id,
        order_version=order.version,
        event_id=event.id,
        message_type=profile.message_type,
        order_control=ORDER_CONTROL[event.type],
        control_id=control_id,
        payload=payload,
        status=status,
        last_error=problem[:1000],
        next_attempt_at=timezone.now() if status == OutboundMessage.Status.PENDING else None,
    )
    if status == OutboundMessage.Status.PENDING:
        transaction.on_commit(partial(dispatch, message_id=message.pk))
    return message


def order_facts(event: Event, order: OrderEvent, partner: LabPartner, profile: OrderProfile) -> OrderFacts:
    """What the order message of ``event`` (``order``: its payload) is made of (the ordering
    provider only when the profile asks for it: it costs two reads)."""
    assert event.patient_id is not None
    tenant = get_tenant(tenant_id=event.tenant_id)
    provider = None
    if "ordering-provider" in profile.sources.values() and event.encounter_id is not None:
        provider = ordering_provider(tenant_id=event.tenant_id, encounter_id=event.encounter_id)
    return OrderFacts(
        clinic=tenant.slug.upper(),
        lab_application=partner.application,
        lab_facility=partner.facility,
        patient=get_patient(tenant_id=event.tenant_id, patient_id=event.patient_id),
        order=order,
        ordering_provider=provider,
    )


def ordering_provider(*, tenant_id: int, encounter_id: UUID) -> tuple[str, str] | None:
    """(ID, name) of the practitioner of the encounter, if it has one."""
    practitioner_id = get_encounter(tenant_id=tenant_id, encounter_id=encounter_id).practitioner_id
    if practitioner_id is None:
        return None
    rows = read_encounter_rows(
        view="practitioner",
        query=RowQuery(tenant_id=tenant_id, where=(Where("id", "eq", practitioner_id),), fields=("id", "name")),
    )
    return (str(rows[0]["id"]), rows[0]["name"]) if rows else None


def dispatch(*, message_id: int) -> None:
    from interop.tasks import send_outbound  # the tasks module imports this one

    try:
        send_outbound.apply_async(kwargs={"message_id": message_id})
    except Exception as exc:  # the broker is down: the outbound sweep sends it later
        logger.warning("outbound.dispatch_failed message=%s error=%s", message_id, type(exc).__name__)


def retry_delay(attempts: int) -> float:
    delays = settings.CLINIC_OUTBOUND_RETRY_DELAYS
    return delays[max(0, min(attempts - 1, len(delays) - 1))]


WAITING = "waiting"  # send_message: an earlier version of the order has not been answered yet


def send_message(*, message_id: int) -> str:
    """Send one pending message over MLLP and record the outcome: ``acked``, ``rejected``
    (AE/AR: the lab refused it; not retried), ``pending`` with the next attempt's time (the lab
    could not be reached), or ``waiting`` (an earlier version of the order is still pending;
    its outcome dispatches this one). Returns the status.

    Locks wait rather than skip: a second task for a message being sent waits and then sees it
    answered, and a task for a later version waits for the earlier one's send to finish. Only
    the message rows are locked, never the partner all of a lab's messages share."""
    with transaction.atomic():
        message = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related("partner")
            .filter(pk=message_id)
            .first()
        )
        if message is None or message.status != OutboundMessage.Status.PENDING:
            return message.status if message else "missing"
        earlier = (
            OutboundMessage.objects.select_for_update()
            .filter(
                partner=message.partner,
                order_id=message.order_id,
                order_version__lt=message.order_version,
                status=OutboundMessage.Status.PENDING,
            )
            .order_by("order_version")
            .first()
        )
        if earlier is not None:
            # The lab must hear of an order's versions in order (no cancel before the order).
            # The sweep is the backstop if the earlier one's dispatch of this one is lost.
            message.next_attempt_at = (earlier.next_attempt_at or timezone.now()) + timedelta(seconds=1)
            message.save(update_fields=["next_attempt_at"])
            return WAITING
        partner = message.partner
        message.attempts += 1
        try:
            answer = mllp.send(
                partner.mllp_host, partner.mllp_port or 0, message.payload, timeout=settings.CLINIC_MLLP_TIMEOUT
            )
            code, text = mllp.ack_status(answer, message.control_id)
        except MLLPError as exc:
            message.last_error = str(exc)[:1000]
            message.next_attempt_at = timezone.now() + timedelta(seconds=retry_delay(message.attempts))
            message.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            logger.warning(
                "outbound.send_failed message=%s partner=%s attempt=%s", message.pk, partner.pk, message.attempts
            )
            return message.status
        message.ack_code, message.ack_text, message.acked_at = code, text[:2000], timezone.now()
        message.status = OutboundMessage.Status.ACKED if code in ("AA", "CA") else OutboundMessage.Status.REJECTED
        message.last_error = "" if message.status == OutboundMessage.Status.ACKED else f"{code}: {text}"[:1000]
        message.next_attempt_at = None
        message.save()
        logger.info("outbound.acknowledged message=%s code=%s", message.pk, code)
        following = (
            OutboundMessage.objects.filter(
                partner=partner,
                order_id=message.order_id,
                order_version__gt=message.order_version,
                status=OutboundMessage.Status.PENDING,
            )
            .order_by("order_version")
            .values_list("pk", flat=True)
            .first()
        )
        if following is not None:
            transaction.on_commit(partial(dispatch, message_id=following))
        return message.status


def sweep_outbound(*, limit: int = 200) -> int:
    """Dispatch pending messages whose next attempt is due (the lab was down, the task lost)."""
    due = list(
        OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for message_id in due:
        dispatch(message_id=message_id)
    return len(due)


def send_now(*, message_ids: list[int]) -> int:
    """Send these messages again now, those still pending (an operator fixed the lab's
    address); returns how many were queued."""
    pending = list(
        OutboundMessage.objects.filter(pk__in=message_ids, status=OutboundMessage.Status.PENDING).values_list(
            "pk", flat=True
        )
    )
    OutboundMessage.objects.filter(pk__in=pending).update(next_attempt_at=timezone.now())
    for message_id in pending:
        dispatch(message_id=message_id)
    return len(pending)


def next_retry_delay(*, message_id: int) -> float:
    """Seconds until the next attempt at a message the lab could not be reached for."""
    attempts = OutboundMessage.objects.filter(pk=message_id).values_list("attempts", flat=True).first()
    return retry_delay(attempts or 1)
