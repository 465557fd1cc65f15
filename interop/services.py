"""Interop writes: lab partners, and delivering order messages to them until acknowledged.

The ACK is recorded in ``OutboundMessage`` only; nothing is written back into clinical tables.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.contracts import Conflict, Event, FieldProblem, InvalidInput
from clinic.facade import get_tenant
from identity.facade import get_patient
from interop import outbound
from interop.models import LabPartner, OutboundMessage
from interop.v2 import mllp

logger = logging.getLogger("interop.outbound")

SENDING_APPLICATION = "CLINIC"
ORDER_CONTROL = {"order.placed": "NW", "order.cancelled": "CA"}


class LabPartnerExists(Conflict):
    code = "lab-partner-exists"


def create_lab_partner(
    *,
    tenant_id: int,
    name: str,
    facility: str,
    application: str = "",
    mllp_host: str = "",
    mllp_port: int | None = None,
) -> LabPartner:
    """Register a lab. Raises InvalidInput, LabPartnerExists."""
    problems = []
    if not name.strip():
        problems.append(FieldProblem("name", "must not be blank"))
    if not facility.strip():
        problems.append(FieldProblem("facility", "must not be blank (MSH-4 of their messages)"))
    if bool(mllp_host) != (mllp_port is not None):
        problems.append(FieldProblem("mllp", "give both a host and a port, or neither"))
    if mllp_port is not None and not 1 <= mllp_port <= 65535:
        problems.append(FieldProblem("mllp_port", "must be 1 to 65535"))
    if problems:
        raise InvalidInput("The lab partner is not valid.", problems)
    try:
        with transaction.atomic():
            return LabPartner.objects.create(
                tenant_id=tenant_id,
                name=name.strip(),
                facility=facility.strip(),
                application=application.strip(),
                mllp_host=mllp_host,
                mllp_port=mllp_port,
            )
    except IntegrityError as exc:
        raise LabPartnerExists(f"This tenant already has a lab partner named {name!r}.") from exc


def order_lab(*, tenant_id: int) -> LabPartner | None:
    """Where the tenant's lab orders go: its (first) active lab partner reachable over MLLP."""
    return (
        LabPartner.objects.filter(tenant_id=tenant_id, active=True)
        .exclude(Q(mllp_host="") | Q(mllp_port__isnull=True))
        .order_by("created_at", "id")
        .first()
    )


def queue_order_message(*, event: Event) -> OutboundMessage | None:
    """Record the ORM^O01 for an order event (idempotent per order version) and send it after
    commit. None when the tenant has no lab to send to."""
    partner = order_lab(tenant_id=event.tenant_id)
    if partner is None:
        logger.info("outbound.no_lab tenant=%s event=%s", event.tenant_id, event.id)
        return None
    order = event.payload
    existing = OutboundMessage.objects.filter(
        partner=partner, order_id=order["order_id"], order_version=order["version"]
    ).first()
    if existing is not None:
        return existing
    assert event.patient_id is not None
    tenant = get_tenant(tenant_id=event.tenant_id)
    control_id = uuid.uuid4().hex[:20].upper()
    payload = outbound.build_orm(
        control_id=control_id,
        sent_at=timezone.now(),
        sending_application=SENDING_APPLICATION,
        sending_facility=tenant.slug.upper(),
        receiving_application=partner.application,
        receiving_facility=partner.facility,
        patient=get_patient(tenant_id=event.tenant_id, patient_id=event.patient_id),
        mrn_authority=tenant.slug.upper(),
        order=order,
        order_control=ORDER_CONTROL[event.type],
    )
    message = OutboundMessage.objects.create(
        tenant_id=event.tenant_id,
        partner=partner,
        order_id=order["order_id"],
        order_version=order["version"],
        event_id=event.id,
        order_control=ORDER_CONTROL[event.type],
        control_id=control_id,
        payload=payload,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(partial(dispatch, message_id=message.pk))
    return message


def dispatch(*, message_id: int) -> None:
    from interop.tasks import send_outbound

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
        except mllp.MLLPError as exc:
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
