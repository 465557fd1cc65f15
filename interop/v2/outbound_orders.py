"""Outbound order messages: an ORM^O01 for each version of a lab order (HL7 v2.5 chapter 4),
built and checked with hl7apy, recorded once per (lab, order, order version) and delivered
over MLLP until the lab acknowledges it.

The ACK is recorded in ``OutboundMessage`` only; nothing is written back into clinical tables.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from hl7apy.core import Message
from hl7apy.parser import parse_segment

from clinic.contracts import Event
from clinic.facade import get_tenant
from identity.contracts import PatientRecord
from identity.facade import get_patient
from interop.errors import MLLPError
from interop.models import LabPartner, OutboundMessage
from interop.v2 import mllp
from interop.v2.ack import SENDING_APPLICATION
from orders.contracts import ORDER_CANCELLED, ORDER_PLACED, OrderEvent

logger = logging.getLogger("interop.outbound")

ORDER_CONTROL = {ORDER_PLACED: "NW", ORDER_CANCELLED: "CA"}

# --- Building ------------------------------------------------------------------------------------

SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
PRIORITY = {"routine": "R", "urgent": "S", "asap": "A", "stat": "S"}


def _ts(value: datetime) -> str:
    return value.strftime("%Y%m%d%H%M%S")


def _escape(text: str) -> str:
    """HL7 v2 escape sequences (2.7.4) for text that goes into a field. A line break becomes a
    space: a CR would end the segment and let free text forge the next one (hl7apy does not
    keep hex escapes such as \\X0D\\ intact)."""
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r\n", " ")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def build_orm(
    *,
    control_id: str,
    sent_at: datetime,
    sending_application: str,
    sending_facility: str,
    receiving_application: str,
    receiving_facility: str,
    patient: PatientRecord,
    mrn_authority: str,
    order: OrderEvent,
    order_control: str,
) -> str:
    """The ER7 text of an ORM^O01 (new order NW, or cancel CA) for one order. Each segment is
    validated against the HL7 v2.5 structures (hl7apy)."""
    m = Message("ORM_O01", version="2.5")
    m.msh.msh_3 = _escape(sending_application)
    m.msh.msh_4 = _escape(sending_facility)
    m.msh.msh_5 = _escape(receiving_application)
    m.msh.msh_6 = _escape(receiving_facility)
    m.msh.msh_7 = _ts(sent_at)
    m.msh.msh_9 = "ORM^O01^ORM_O01"
    m.msh.msh_10 = control_id
    m.msh.msh_11 = "P"
    m.msh.msh_12 = "2.5"
    group = m.add_group("ORM_O01_PATIENT")
    mrn = next((i for i in patient.identifiers if i.assigning_authority == mrn_authority and i.use != "old"), None)
    identifiers = [f"{_escape(mrn.value)}^^^{mrn_authority}^MR"] if mrn else []
    identifiers += [
        f"{_escape(i.value)}^^^{i.assigning_authority}^NH"
        for i in patient.identifiers
        if i.assigning_authority == "NHS" and i.use != "old"
    ]
    name = f"{_escape(patient.name.family)}^{_escape(' '.join(patient.name.given))}"
    born = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
    # PID-3 repeats (MRN, NHS number): parsed from ER7 so the repetitions are real ones.
    group.add(
        parse_segment(
            f"PID|||{'~'.join(identifiers)}||{name}||{born}|{SEX.get(patient.gender.value, 'U')}", version="2.5"
        )
    )
    visit = group.add_group("ORM_O01_PATIENT_VISIT")
    visit.pv1.pv1_2 = "O"  # outpatient
    visit.pv1.pv1_19 = _escape(order.visit_number)
    ordered = m.add_group("ORM_O01_ORDER")
    ordered.orc.orc_1 = order_control
    ordered.orc.orc_2 = _escape(order.placer_number)
    ordered.orc.orc_9 = _ts(order.ordered_at)
    detail = ordered.add_group("ORM_O01_ORDER_DETAIL").add_group("ORM_O01_OBRRQDRQ1RXOODSODT_SUPPGRP")
    detail.add_segment("OBR")
    detail.obr.obr_1 = "1"
    detail.obr.obr_2 = _escape(order.placer_number)
    loinc = order.loinc
    local = f"{_escape(order.code)}^{_escape(order.display)}^L"
    detail.obr.obr_4 = f"{loinc.code}^{_escape(loinc.display)}^LN^{local}" if loinc else local
    detail.obr.obr_5 = PRIORITY.get(order.priority, "R")
    if order.specimen_note:
        detail.obr.obr_13 = _escape(order.specimen_note)
    for segment in (m.msh, group.pid, visit.pv1, ordered.orc, detail.obr):
        segment.validate()  # raises hl7apy ValidationError on a malformed segment
    return str(m.to_er7())


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
    """Record the ORM^O01 for an order event (``order``: its payload; idempotent per order
    version) and send it after commit. None when the tenant has no lab to send to."""
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
    tenant = get_tenant(tenant_id=event.tenant_id)
    control_id = uuid.uuid4().hex[:20].upper()
    payload = build_orm(
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
        order_id=order.order_id,
        order_version=order.version,
        event_id=event.id,
        order_control=ORDER_CONTROL[event.type],
        control_id=control_id,
        payload=payload,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(partial(dispatch, message_id=message.pk))
    return message


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
