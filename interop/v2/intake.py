"""HL7 v2 intake: store, identify the sender, chart, acknowledge. MLLP (``listener``) and HTTP
(``interop.api``) both call ``receive`` and send back exactly the ACK it returns.

The order of things is the promise to labs (docs/hl7v2.md, ADR 0005):

1. the raw bytes are stored (``store``, committed) before anything else;
2. the sender is resolved to a tenant through its registered lab partner (``senders``);
3. the message is mapped and charted in one transaction, with its stored status (``oru`` for
   results, ``adt`` for patients: each owns its transaction);
4. AA only after that commit; AE/AR with ERR segments otherwise (``ack``), nothing half-charted.

So a delivery is three commits by design: the store, the clinical step, the ACK given.

A byte-identical redelivery is answered AA from the store and charts nothing; any other
redelivery is recognised by the business keys results enforces.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from clinic.facade import get_tenant
from interop.models import InboundMessage, LabPartner
from interop.v2 import adt, batch, charsets, er7, oru, store
from interop.v2.ack import Problem, Refused, build_ack
from interop.v2.fields import local_zone
from interop.v2.header import Header, check_header, read_header
from interop.v2.senders import cached_sender, resolve_sender

logger = logging.getLogger("interop.inbound")

Status = InboundMessage.Status


@dataclass(frozen=True, slots=True)
class Receipt:
    """What ``receive`` did: the ACK to send and the stored message."""

    ack: str
    code: str
    message_id: int
    status: str
    charset: charsets.Charset = charsets.UTF8  # the ACK's: the message's own (HL7 v2.5.1 2.14.9.18)
    encoded: bytes = b""  # a batch's answer, its ACKs each in their message's character set
    batch_ids: tuple[int, ...] = ()  # a batch's stored messages

    def ack_bytes(self) -> bytes:
        """The ACK as sent back, in the message's character set."""
        return self.encoded or self.ack.encode(self.charset.codec, errors="replace")

    @property
    def message_ids(self) -> tuple[int, ...]:
        """The stored messages this answers (a batch's, or the one)."""
        return self.batch_ids or ((self.message_id,) if self.message_id else ())


def receive(
    *, raw: bytes, transport: str, peer: str = "", tenant_id: int | None = None, size: int | None = None
) -> Receipt:
    """Take one inbound HL7 v2 message, or a batch of them (the bytes between the MLLP frame,
    or an HTTP body), and return the ACK to send (a batch of ACKs for a batch). Never raises
    for bad input: every problem is an AR or AE with ERR segments, and the raw message is
    stored whatever happens.

    ``tenant_id``: the authenticated tenant (HTTP); the sender must be one of its lab partners.
    Over MLLP the tenant comes from the sender alone. ``size``: the message's real length when
    the transport kept only its start (a frame over the store limit).
    """
    if batch.is_batch(raw):
        return _receive_batch(raw, transport=transport, peer=peer, tenant_id=tenant_id, size=size)
    return _receive_one(raw, transport=transport, peer=peer, tenant_id=tenant_id, size=size)


def _receive_one(
    raw: bytes,
    *,
    transport: str,
    peer: str,
    tenant_id: int | None,
    size: int | None,
    refusal: Problem | None = None,
    header: Header | None = None,
) -> Receipt:
    """One message: stored, then charted or refused, then its ACK. ``refusal`` (with the
    ``header`` to file it under) refuses it whatever it holds: a batch that cannot be read."""
    received_at = timezone.now()
    size = max(size or 0, len(raw))
    text, decode_problem = _decode(raw)
    if header is None:
        header = read_header(text) if decode_problem is None else Header()
    decode_problem = refusal or decode_problem
    # A lab that sent a moment ago is known without a query: file its message under it at once
    # and look for a byte-identical earlier delivery in the same statement.
    known = cached_sender(header, tenant_id=tenant_id) if decode_problem is None else None
    try:
        row = _row(
            raw,
            header,
            tenant_id=known.tenant_id if known is not None else tenant_id,
            transport=transport,
            peer=peer,
            size=size,
            received_at=received_at,
        )
        received = store.store_received(known=known, row=row)
    except Exception:
        # The store is down or refused the row: nothing is kept, so say so and let the lab resend.
        logger.exception("hl7.store_failed transport=%s", transport)
        return _unstored(header, received_at)
    ack_control_id = _new_control_id()
    outcome, partner = _process(
        received,
        raw,
        text,
        header,
        decode_problem,
        size=size,
        tenant_id=tenant_id,
        ack_control_id=ack_control_id,
        transport=transport,
    )
    return _finish(received, header, partner, outcome, transport=transport, ack_control_id=ack_control_id)


WORST_FIRST = ("AR", "AE", "AA")


def _receive_batch(raw: bytes, *, transport: str, peer: str, tenant_id: int | None, size: int | None) -> Receipt:
    """A batch (``batch``): each message delivered as if sent alone, in order, and the batch
    of their ACKs. A batch whose envelope cannot be read is stored whole and refused (AR, its
    MSA-2 the batch's control ID)."""
    try:
        if size is not None and size > len(raw):
            raise batch.BatchInvalid(
                Problem("207", f"The batch is {size} bytes; this server keeps at most {len(raw)} bytes of one.")
            )
        parsed = batch.split(raw)
    except batch.BatchInvalid as exc:
        return _refuse_batch(raw, exc.problem, transport=transport, peer=peer, tenant_id=tenant_id, size=size)
    receipts = [
        [_receive_one(m, transport=transport, peer=peer, tenant_id=tenant_id, size=None) for m in part.messages]
        for part in parsed.parts
    ]
    return _batch_receipt(parsed, receipts)


def _refuse_batch(
    raw: bytes, problem: Problem, *, transport: str, peer: str, tenant_id: int | None, size: int | None
) -> Receipt:
    outer = batch.first_envelope(raw)
    header = Header(
        sending_application=outer.component(3, 1),
        sending_facility=outer.component(4, 1),
        receiving_facility=outer.component(6, 1),
        control_id=outer.control_id,
        message_type=outer.segment_id,
        sending_application_hd=outer.components(3),
        sending_facility_hd=outer.components(4),
    )
    receipt = _receive_one(
        raw, transport=transport, peer=peer, tenant_id=tenant_id, size=size, refusal=problem, header=header
    )
    envelope = batch.Batch(file=None, parts=[batch.Part(header=outer)])
    return _batch_receipt(envelope, [[receipt]])


def _batch_receipt(parsed: batch.Batch, receipts: list[list[Receipt]]) -> Receipt:
    every = [r for part in receipts for r in part]
    charset = every[0].charset if every else charsets.UTF8
    text, encoded = batch.build_answer(
        parsed,
        [[(r.ack, r.ack_bytes()) for r in part] for part in receipts],
        at=timezone.localtime(timezone.now(), local_zone()),
        new_control_id=_new_control_id,
        our_facility=_ack_facility(every[0].ack) if every else "",
        codec=charset.codec,
    )
    codes = {r.code for r in every}
    return Receipt(
        ack=text,
        code=next((c for c in WORST_FIRST if c in codes), "AA"),
        message_id=every[0].message_id if every else 0,
        status="batch",
        charset=charset,
        encoded=encoded,
        batch_ids=tuple(r.message_id for r in every if r.message_id),
    )


def _ack_facility(ack: str) -> str:
    """MSH-4 of one of our ACKs: the clinic it was filed under."""
    fields = ack.split("\r", 1)[0].split("|")
    return fields[3] if len(fields) > 3 else ""


def reprocess(*, message_id: int) -> Receipt:
    """Run a stored message through intake again as a new delivery (an admin fixed the cause:
    registered the lab, the identifier system...). The original row is kept as it was."""
    original = InboundMessage.objects.get(pk=message_id)
    receipt = receive(
        raw=bytes(original.raw),
        transport=original.transport,
        peer=f"reprocess:{original.pk}",
        tenant_id=original.tenant_id,
    )
    store.mark_reprocessed(message_id=receipt.message_id, original_id=original.pk)
    return receipt


# --- The steps ------------------------------------------------------------------------------------


def _row(
    raw: bytes,
    header: Header,
    *,
    tenant_id: int | None,
    transport: str,
    peer: str,
    size: int,
    received_at: datetime,
) -> dict[str, Any]:
    """The store's columns of a delivery, from its bytes and its best-effort MSH."""
    kept = settings.CLINIC_HL7_STORE_BYTES
    return {
        "tenant_id": tenant_id,
        "transport": transport,
        "peer": peer[:100],
        "raw": raw[:kept],
        "size": size,
        "truncated": size > kept,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "sending_application": header.sending_application[:100],
        "sending_facility": header.sending_facility[:100],
        "receiving_facility": header.receiving_facility[:100],
        "control_id": header.control_id[:200],
        "message_type": header.kind[:20],
        "version": header.version[:10],
        "received_at": received_at,
    }


def _process(
    received: store.Received,
    raw: bytes,
    text: str,
    header: Header,
    decode_problem: Problem | None,
    *,
    size: int,
    tenant_id: int | None,
    ack_control_id: str,
    transport: str,
) -> tuple[store.Outcome, LabPartner | None]:
    """Everything after the store: the outcome, and the sender when it was resolved."""
    partner: LabPartner | None = None
    try:
        _accept(text, header, decode_problem, size=size)
        partner = resolve_sender(header, tenant_id=tenant_id)
        message = _read(raw, text, header, partner)
        return _take(received, message, header, partner, ack_control_id=ack_control_id, transport=transport), partner
    except Refused as exc:
        # Refused before, by or just after the sender's resolution.
        _file_under_sender(received, header, tenant_id=tenant_id)
        return store.Outcome.rejected("AR", exc.problems, exc.text), partner
    except Exception:
        # A bug or an outage, not the sender's fault: AE so they retry; the raw message is kept.
        logger.exception("hl7.processing_failed message=%s", received.id)
        return store.Outcome(
            status=Status.REJECTED,
            code="AE",
            text="Internal error while processing the message; it is stored and will be looked at. Send it again.",
            problems=[Problem("207", "Application internal error")],
        ), partner


def _decode(raw: bytes) -> tuple[str, Problem | None]:
    """The message as text for the store and the header (UTF-8, else Latin-1, in which every
    byte is a character): MSH is ASCII in every character set we read, so this is enough to
    read the header and the sender; the message itself is read in its own character set
    (``_read``) once the sender, whose default it may be, is known."""
    if not raw.strip():
        return "", Problem("100", "The message is empty.")
    if b"\x00" in raw and raw.lstrip(b"\xef\xbb\xbf\r\n \t").startswith(b"MSH"):
        return "", Problem("102", "The message contains NUL bytes: HL7 v2 is text.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return er7.normalise(text), None


def _accept(text: str, header: Header, decode_problem: Problem | None, *, size: int) -> None:
    """Do we take messages like this one at all? Raises Refused (AR)."""
    if decode_problem is not None:
        raise Refused([decode_problem])
    limit = settings.CLINIC_HL7_MAX_MESSAGE_BYTES
    if size > limit:
        raise Refused([Problem("207", f"The message is {size} bytes; this server accepts at most {limit} bytes.")])
    _check_msh(text)
    check_header(header)


def _check_msh(text: str) -> None:
    if not text.startswith("MSH"):
        printable = sum(1 for ch in text[:200] if ch.isprintable() or ch in "\r\n\t")
        what = "is not HL7 v2 text" if printable < min(len(text), 200) * 0.9 else "does not start with an MSH segment"
        raise Refused([Problem("100", f"The message {what}.")])
    try:
        er7.parse(text.split("\r", 1)[0])
    except er7.ER7Error as exc:
        raise Refused([Problem("100", f"The MSH segment is not usable: {exc}.", "MSH", 1, 1)]) from exc


def _read(raw: bytes, text: str, header: Header, partner: LabPartner) -> er7.Message:
    """The message parsed from its bytes in its character set: MSH-18's, else the partner's
    default (``charsets``). Raises Refused (AR) for a character set we do not read or bytes
    that are not valid in it: charting a guess would garble the text. ``text`` is the
    message as first read: when it is all ASCII (most messages), every character set we read
    gives the same text, so it is parsed as it is."""
    name = header.charset or partner.charset
    charset = charsets.lookup(name)
    if charset is not None and raw.isascii():
        return er7.parse(text, codec=charset.codec)
    try:
        decoded, charset = charsets.decode(raw, name, declared=bool(header.charset))
    except charsets.CharsetRefused as exc:
        raise Refused([exc.problem]) from exc
    return er7.parse(er7.normalise(decoded), codec=charset.codec)


def _take(
    received: store.Received,
    message: er7.Message,
    header: Header,
    partner: LabPartner,
    *,
    ack_control_id: str,
    transport: str,
) -> store.Outcome:
    """A message we take from a known sender: AA from the store for a byte-identical
    redelivery, else charted (ORU) or applied (ADT)."""
    earlier = store.earlier_delivery(received, partner)
    received.tenant_id, received.partner_id = partner.tenant_id, partner.pk  # written with the outcome
    if earlier is not None:
        first = earlier[1] or earlier[0]
        return store.Outcome(
            status=Status.DUPLICATE,
            code="AA",
            text=f"Duplicate of message {first} (byte-identical): already received; nothing charted again.",
            duplicate_of=first,
        )
    if header.message_type == "ORU":
        return oru.chart_result(received, message, partner, ack_control_id=ack_control_id, transport=transport)
    return adt.apply_adt(received, message, header, partner)


def _file_under_sender(received: store.Received, header: Header, *, tenant_id: int | None) -> None:
    """A message refused before its sender was resolved (wrong type or version, no control ID,
    too large) is still filed under the clinic of the registered lab that sent it, so the
    clinic's message store and support trace show it; only an unknown sender's stays without."""
    if not (header.sending_facility or header.sending_application):
        return
    try:
        partner = resolve_sender(header, tenant_id=tenant_id)
    except Refused:
        return
    store.file_under(received, partner)


def _finish(
    received: store.Received,
    header: Header,
    partner: LabPartner | None,
    outcome: store.Outcome,
    *,
    transport: str,
    ack_control_id: str,
) -> Receipt:
    """The ACK of the outcome, recorded with it (unless the commit already wrote both)."""
    now = timezone.now()
    declared = charsets.lookup(header.charset) if header.charset else None
    default = charsets.lookup(partner.charset) if partner is not None else None
    ack = build_ack(
        code=outcome.code,
        acknowledged_control_id=header.control_id,
        ack_control_id=ack_control_id,
        text=outcome.text,
        problems=outcome.problems,
        at=timezone.localtime(now, local_zone()),
        receiving_application=header.sending_application_hd,
        receiving_facility=header.sending_facility_hd,
        our_facility=_our_facility(received, partner),
        trigger=header.event,
        version=header.ack_version,
        processing=header.ack_processing,
        charset=declared.hl7 if declared is not None else "",
    )
    if not outcome.recorded:
        # Over HTTP the ACK is the response body, handed over now.
        handed_over = now if transport == InboundMessage.Transport.HTTP else None
        store.record_answer(received, partner, outcome, ack_control_id=ack_control_id, acknowledged_at=handed_over)
    logger.info(
        "hl7.received message=%s tenant=%s type=%s status=%s ack=%s",
        received.id,
        received.tenant_id,
        received.message_type,
        outcome.status,
        outcome.code,
    )
    return Receipt(
        ack=ack,
        code=outcome.code,
        message_id=received.id,
        status=outcome.status,
        charset=declared or default or charsets.UTF8,
    )


def _our_facility(received: store.Received, partner: LabPartner | None) -> str:
    """Our MSH-4 in the ACK: the code of the clinic the message was filed under, if any."""
    if partner is not None:
        return partner.tenant.slug.upper()
    if received.tenant_id is not None:
        return get_tenant(tenant_id=received.tenant_id).slug.upper()
    return ""


def _unstored(header: Header, received_at: datetime) -> Receipt:
    ack = build_ack(
        code="AE",
        acknowledged_control_id=header.control_id,
        ack_control_id=_new_control_id(),
        text="The message could not be stored; nothing was charted. Send it again.",
        problems=[Problem("207", "Application internal error: the message store is unavailable")],
        at=timezone.localtime(received_at, local_zone()),
        receiving_application=header.sending_application_hd,
        receiving_facility=header.sending_facility_hd,
        trigger=header.event,
        processing=header.ack_processing,
    )
    return Receipt(ack=ack, code="AE", message_id=0, status="unstored")


def _new_control_id() -> str:
    return uuid.uuid4().hex[:20].upper()
