"""HL7 v2 intake: store, identify the sender, chart, acknowledge. MLLP and HTTP both call
``receive`` and send back exactly the ACK it returns.

The order of things is the promise to labs (ARCHITECTURE.md, HL7 v2 edge):

1. the raw bytes are stored (``InboundMessage``, committed) before anything else;
2. the sender is resolved to a tenant through its registered lab partner (MSH-3/MSH-4);
3. the message is mapped and charted in one transaction, with its stored status;
4. AA only after that commit; AE/AR with ERR segments otherwise, nothing half-charted.

A byte-identical redelivery is answered AA from the store and charts nothing; any other
redelivery is recognised by the business keys results enforces.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.contracts import DomainError
from clinic.db import prepared_cursor
from clinic.facade import get_tenant
from identity.contracts import ContactPoint as Phone
from identity.contracts import Demographics, Gender, HumanName, IdentifierInput
from identity.facade import (
    identifier_system_uris,
    merge_patients,
    patients_by_v2_identifiers,
    register_patient,
    update_demographics,
)
from interop.models import InboundMessage, LabPartner
from interop.v2 import er7, mapping
from interop.v2.ack import Problem, build_ack
from results.contracts import ChartStatus
from results.facade import record_result

logger = logging.getLogger("interop.inbound")

SUPPORTED_VERSIONS = {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}
SUPPORTED = {("ORU", "R01"), ("ADT", "A01"), ("ADT", "A04"), ("ADT", "A08"), ("ADT", "A40")}
STATUS_BY_CHART = {
    ChartStatus.CHARTED: InboundMessage.Status.PROCESSED,
    ChartStatus.STALE: InboundMessage.Status.PROCESSED,
    ChartStatus.DUPLICATE: InboundMessage.Status.DUPLICATE,
    ChartStatus.HELD: InboundMessage.Status.HELD,
}


@dataclass(frozen=True, slots=True)
class Receipt:
    """What ``receive`` did: the ACK to send and the stored message."""

    ack: str
    code: str
    message_id: int
    status: str


@dataclass(slots=True)
class _Header:
    sending_application: str = ""
    sending_facility: str = ""
    receiving_facility: str = ""
    control_id: str = ""
    message_type: str = ""
    event: str = ""
    version: str = ""
    processing_id: str = ""


@dataclass(slots=True)
class _Result:
    status: str
    code: str
    text: str
    problems: list[Problem] = field(default_factory=list)
    produced: dict[str, Any] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)
    patient_id: UUID | None = None
    held_id: UUID | None = None
    duplicate_of: int | None = None
    committed: bool = False
    accessions: list[str] = field(default_factory=list)
    placer_numbers: list[str] = field(default_factory=list)
    recorded: bool = False  # the outcome and ACK fields were written with the commit


class _Rejected(Exception):
    def __init__(self, code: str, problems: list[Problem], text: str = "") -> None:
        super().__init__(text or "; ".join(p.text for p in problems))
        self.code = code
        self.problems = problems
        self.text = text or problems[0].text


def receive(
    *, raw: bytes, transport: str, peer: str = "", tenant_id: int | None = None, size: int | None = None
) -> Receipt:
    """Take one inbound HL7 v2 message (the bytes between the MLLP frame, or an HTTP body) and
    return the ACK to send. Never raises for bad input: every problem is an AR or AE with ERR
    segments, and the raw message is stored whatever happens.

    ``tenant_id``: the authenticated tenant (HTTP); the sender must be one of its lab partners.
    Over MLLP the tenant comes from the sender alone. ``size``: the message's real length when
    the transport kept only its start (a frame over the store limit).
    """
    received_at = timezone.now()
    limit = settings.CLINIC_HL7_MAX_MESSAGE_BYTES
    size = max(size or 0, len(raw))
    text, decode_problem = _decode(raw)
    header = _header(text) if decode_problem is None else _Header()
    # A lab that sent a moment ago is known without a query: file its message under it at once
    # and look for a byte-identical earlier delivery in the same statement.
    known = _cached_sender(header, tenant_id=tenant_id) if decode_problem is None else None
    try:
        stored = _store(
            known=known,
            tenant_id=known.tenant_id if known is not None else tenant_id,
            transport=transport,
            peer=peer[:100],
            raw=raw[: settings.CLINIC_HL7_STORE_BYTES],
            size=size,
            truncated=size > settings.CLINIC_HL7_STORE_BYTES,
            sha256=hashlib.sha256(raw).hexdigest(),
            sending_application=header.sending_application[:100],
            sending_facility=header.sending_facility[:100],
            receiving_facility=header.receiving_facility[:100],
            control_id=header.control_id[:200],
            message_type=f"{header.message_type}^{header.event}".strip("^")[:20],
            version=header.version[:10],
            received_at=received_at,
        )
    except Exception:
        # The store is down or refused the row: nothing is kept, so say so and let the lab resend.
        logger.exception("hl7.store_failed transport=%s", transport)
        ack = build_ack(
            code="AE",
            acknowledged_control_id=header.control_id,
            ack_control_id=uuid.uuid4().hex[:20].upper(),
            text="The message could not be stored; nothing was charted. Send it again.",
            problems=[Problem("207", "Application internal error: the message store is unavailable")],
            at=timezone.localtime(received_at, _zone()),
            receiving_application=header.sending_application,
            receiving_facility=header.sending_facility,
            trigger=header.event,
        )
        return Receipt(ack=ack, code="AE", message_id=0, status="unstored")
    partner: LabPartner | None = None
    ack_control_id = uuid.uuid4().hex[:20].upper()
    try:
        if decode_problem is not None:
            raise _Rejected("AR", [decode_problem])
        if size > limit:
            raise _Rejected(
                "AR",
                [Problem("207", f"The message is {size} bytes; this server accepts at most {limit} bytes.")],
            )
        message = _parse(text)
        _check_header(header, message)
        partner = _resolve_sender(header, tenant_id=tenant_id)
        result = _process(stored, message, header, partner, ack_control_id=ack_control_id, transport=transport)
    except _Rejected as exc:
        result = _Result(status=InboundMessage.Status.REJECTED, code=exc.code, text=exc.text, problems=exc.problems)
        if partner is None:
            _file_under_sender(stored, header, tenant_id=tenant_id)
    except Exception:
        # A bug or an outage, not the sender's fault: AE so they retry; the raw message is kept.
        logger.exception("hl7.processing_failed message=%s", stored.pk)
        result = _Result(
            status=InboundMessage.Status.REJECTED,
            code="AE",
            text="Internal error while processing the message; it is stored and will be looked at. Send it again.",
            problems=[Problem("207", "Application internal error")],
        )
    return _finish(stored, header, partner, result, transport=transport, ack_control_id=ack_control_id)


_STORE_SQL = """
INSERT INTO interop_inboundmessage
       (tenant_id, transport, peer, raw, size, truncated, sha256, sending_application, sending_facility,
        receiving_facility, control_id, message_type, version, status, ack_code, ack_text, ack_control_id,
        errors, produced, event_ids, accessions, placer_numbers, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'received', '', '', '', '[]', '{}', '{}', '{}', '{}', %s)
RETURNING id
"""
_EARLIER_SQL = """
SELECT id, duplicate_of_id FROM interop_inboundmessage
 WHERE tenant_id = %s AND sha256 = %s AND id <> %s AND status IN ('processed', 'duplicate', 'held')
 ORDER BY received_at LIMIT 1
"""
_OUTCOME_SQL = """
UPDATE interop_inboundmessage
   SET tenant_id = %s, partner_id = %s, status = %s, produced = %s::jsonb, event_ids = %s::uuid[],
       patient_id = %s, held_id = %s, committed_at = %s, accessions = %s::varchar[],
       placer_numbers = %s::varchar[], ack_code = 'AA', ack_text = %s, ack_control_id = %s,
       acknowledged_at = COALESCE(%s, acknowledged_at)
 WHERE id = %s
"""


_STORE_FINDING_EARLIER_SQL = """
WITH earlier AS (
    SELECT id, duplicate_of_id FROM interop_inboundmessage
     WHERE tenant_id = %s AND sha256 = %s AND status IN ('processed', 'duplicate', 'held')
     ORDER BY received_at LIMIT 1
), stored AS (
    INSERT INTO interop_inboundmessage
           (partner_id, tenant_id, transport, peer, raw, size, truncated, sha256, sending_application,
            sending_facility, receiving_facility, control_id, message_type, version, status, ack_code, ack_text,
            ack_control_id, errors, produced, event_ids, accessions, placer_numbers, received_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'received', '', '', '', '[]', '{}', '{}', '{}',
            '{}', %s)
    RETURNING id
)
SELECT stored.id, earlier.id, earlier.duplicate_of_id FROM stored LEFT JOIN earlier ON true
"""


def _store(*, known: LabPartner | None, **values: Any) -> InboundMessage:
    """Write the received message (one INSERT, no ORM: every delivery pays it). With the
    sender ``known``, the same statement finds an earlier byte-identical delivery
    (``stored.earlier``: (id, duplicate_of) or None)."""
    stored = InboundMessage(**values)
    params = [
        stored.tenant_id,
        stored.transport,
        stored.peer,
        bytes(stored.raw),
        stored.size,
        stored.truncated,
        stored.sha256,
        stored.sending_application,
        stored.sending_facility,
        stored.receiving_facility,
        stored.control_id,
        stored.message_type,
        stored.version,
        stored.received_at,
    ]
    if known is not None:
        with prepared_cursor() as cursor:
            cursor.execute(_STORE_FINDING_EARLIER_SQL, [known.tenant_id, stored.sha256, known.pk, *params])
            pk, earlier, duplicate_of = cursor.fetchone()
        stored.pk, stored.partner_id = pk, known.pk
        stored.earlier = (earlier, duplicate_of) if earlier is not None else None  # type: ignore[attr-defined]
        return stored
    with prepared_cursor() as cursor:
        cursor.execute(_STORE_SQL, params)
        (stored.pk,) = cursor.fetchone()
    return stored


def _decode(raw: bytes) -> tuple[str, Problem | None]:
    if not raw.strip():
        return "", Problem("100", "The message is empty.")
    if b"\x00" in raw and raw.lstrip(b"\xef\xbb\xbf\r\n \t").startswith(b"MSH"):
        return "", Problem("102", "The message contains NUL bytes: HL7 v2 is text.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # HL7 v2 defaults to ASCII; many senders use Latin-1 (MSH-18 8859/1). Every byte is a
        # Latin-1 character, so this cannot fail; junk is caught by the MSH check.
        text = raw.decode("latin-1")
    return er7.normalise(text), None


def _header(text: str) -> _Header:
    """Best-effort MSH fields, for the store and the ACK, even from a message we will refuse."""
    if not text.startswith("MSH") or len(text) < 8:
        return _Header()
    try:
        msh = er7.parse(text.split("\r", 1)[0]).msh
    except er7.ER7Error:
        return _Header()
    return _Header(
        sending_application=msh.component(3, 1),
        sending_facility=msh.component(4, 1),
        receiving_facility=msh.component(6, 1),
        control_id=msh.field(10).strip(),
        message_type=msh.component(9, 1).strip().upper(),
        event=msh.component(9, 2).strip().upper(),
        version=msh.component(12, 1).strip(),
        processing_id=msh.component(11, 1).strip(),
    )


def _parse(text: str) -> er7.Message:
    if not text.startswith("MSH"):
        printable = sum(1 for ch in text[:200] if ch.isprintable() or ch in "\r\n\t")
        what = "is not HL7 v2 text" if printable < min(len(text), 200) * 0.9 else "does not start with an MSH segment"
        raise _Rejected("AR", [Problem("100", f"The message {what}.")])
    try:
        return er7.parse(text)
    except er7.ER7Error as exc:
        raise _Rejected("AR", [Problem("100", f"The MSH segment is not usable: {exc}.", "MSH", 1, 1)]) from exc


def _check_header(header: _Header, message: er7.Message) -> None:
    if not header.control_id:
        raise _Rejected("AR", [Problem("101", "MSH-10 (message control ID) is required.", "MSH", 1, 10)])
    if not header.message_type:
        raise _Rejected("AR", [Problem("101", "MSH-9 (message type) is required.", "MSH", 1, 9)])
    if not header.version:
        raise _Rejected("AR", [Problem("101", "MSH-12 (version ID) is required.", "MSH", 1, 12)])
    if header.version not in SUPPORTED_VERSIONS:
        raise _Rejected(
            "AR",
            [
                Problem(
                    "203",
                    f"HL7 version {header.version!r} is not supported (2.3 to 2.8.2 are).",
                    "MSH",
                    1,
                    12,
                )
            ],
        )
    if (header.message_type, header.event) not in SUPPORTED:
        kinds = ", ".join(f"{t}^{e}" for t, e in sorted(SUPPORTED))
        code = "200" if header.message_type not in {t for t, _ in SUPPORTED} else "201"
        raise _Rejected(
            "AR",
            [
                Problem(
                    code,
                    f"Message type {header.message_type}^{header.event} is not accepted here ({kinds} are).",
                    "MSH",
                    1,
                    9,
                )
            ],
        )
    if header.processing_id and header.processing_id not in ("P", "T", "D"):
        raise _Rejected(
            "AR", [Problem("202", f"MSH-11 processing ID {header.processing_id!r} is not P, T or D.", "MSH", 1, 11)]
        )
    if not header.sending_facility and not header.sending_application:
        raise _Rejected("AR", [Problem("101", "MSH-3/MSH-4 must name the sender.", "MSH", 1, 4)])


_senders: dict[tuple[int | None, str, str, str], tuple[float, LabPartner]] = {}


def _resolve_sender(header: _Header, *, tenant_id: int | None) -> LabPartner:
    """The registered lab partner that sent this (see ``_find_sender``). A found partner is
    remembered for ``CLINIC_HL7_SENDER_CACHE_SECONDS`` (a lab sends all day; deactivating one
    takes effect within that time); an unknown sender is looked up every time, so a lab
    registered a moment ago is recognised at once."""
    key = (
        tenant_id,
        header.sending_application.lower(),
        header.sending_facility.lower(),
        header.receiving_facility.lower(),
    )
    now = time.monotonic()
    cached = _senders.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    partner = _find_sender(header, tenant_id=tenant_id)
    ttl = settings.CLINIC_HL7_SENDER_CACHE_SECONDS
    if ttl > 0:
        if len(_senders) > 1000:
            _senders.clear()
        _senders[key] = (now + ttl, partner)
    return partner


def _cached_sender(header: _Header, *, tenant_id: int | None) -> LabPartner | None:
    """The sender if ``_resolve_sender`` recognised it within the cache time, else None."""
    key = (
        tenant_id,
        header.sending_application.lower(),
        header.sending_facility.lower(),
        header.receiving_facility.lower(),
    )
    cached = _senders.get(key)
    return cached[1] if cached is not None and cached[0] > time.monotonic() else None


def _find_sender(header: _Header, *, tenant_id: int | None) -> LabPartner:
    """The registered lab partner that sent this: MSH-4 (facility) and, when the partner
    records one, MSH-3 (application). A lab serving several clinics is told apart by MSH-6."""
    facility = header.sending_facility or header.sending_application
    partners = [
        p
        for p in LabPartner.objects.filter(Q(facility__iexact=facility), active=True)
        .filter(**({"tenant_id": tenant_id} if tenant_id is not None else {}))
        .select_related("tenant")
        if not p.application or p.application.lower() == header.sending_application.lower()
    ]
    if len({p.tenant_id for p in partners}) > 1:
        receiving = header.receiving_facility.lower()
        partners = [p for p in partners if p.tenant.slug.lower() == receiving]
        if len({p.tenant_id for p in partners}) != 1:
            raise _Rejected(
                "AR",
                [
                    Problem(
                        "204",
                        f"Sender {facility!r} is registered with more than one clinic: put the clinic's code in MSH-6.",
                        "MSH",
                        1,
                        6,
                    )
                ],
            )
    if not partners:
        raise _Rejected(
            "AR",
            [
                Problem(
                    "204",
                    f"Unknown sender: no active lab partner with facility {facility!r}"
                    + (f" and application {header.sending_application!r}" if header.sending_application else "")
                    + " is registered here.",
                    "MSH",
                    1,
                    4,
                )
            ],
        )
    partner = partners[0]
    receiving = header.receiving_facility.strip().lower()
    if receiving and receiving != partner.tenant.slug.lower() and _is_another_clinic(receiving):
        # Addressed (MSH-6) to another clinic of this platform that has not registered the
        # lab: never chart it in the clinic that has.
        raise _Rejected(
            "AR",
            [
                Problem(
                    "204",
                    f"MSH-6 addresses clinic {header.receiving_facility!r}, which has not registered this lab "
                    "as a partner.",
                    "MSH",
                    1,
                    6,
                )
            ],
        )
    return partner


def _is_another_clinic(slug: str) -> bool:
    from clinic.contracts import NotFound

    try:
        get_tenant(slug=slug)
    except NotFound:
        return False
    return True


def _file_under_sender(stored: InboundMessage, header: _Header, *, tenant_id: int | None) -> None:
    """A message refused before its sender was resolved (wrong type or version, no control ID,
    too large) is still filed under the clinic of the registered lab that sent it, so the
    clinic's message store and support trace show it; only an unknown sender's stays without."""
    if not (header.sending_facility or header.sending_application):
        return
    try:
        partner = _resolve_sender(header, tenant_id=tenant_id)
    except _Rejected:
        return
    InboundMessage.objects.filter(pk=stored.pk).update(tenant_id=partner.tenant_id, partner=partner)
    stored.tenant_id, stored.partner = partner.tenant_id, partner


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.CLINIC_HL7_LOCAL_TIMEZONE)


def _process(
    stored: InboundMessage,
    message: er7.Message,
    header: _Header,
    partner: LabPartner,
    *,
    ack_control_id: str,
    transport: str,
) -> _Result:
    tenant_id = partner.tenant_id
    checked = hasattr(stored, "earlier") and stored.partner_id == partner.pk
    stored.tenant_id, stored.partner_id = tenant_id, partner.pk  # written with the outcome
    if checked:
        earlier = stored.earlier  # type: ignore[attr-defined]
    else:
        with prepared_cursor() as cursor:
            cursor.execute(_EARLIER_SQL, [tenant_id, stored.sha256, stored.pk])
            earlier = cursor.fetchone()
    if earlier is not None:
        first = earlier[1] or earlier[0]
        return _Result(
            status=InboundMessage.Status.DUPLICATE,
            code="AA",
            text=f"Duplicate of message {first} (byte-identical): already received; nothing charted again.",
            duplicate_of=first,
        )
    if header.message_type == "ORU":
        return _oru(stored, message, partner, ack_control_id=ack_control_id, transport=transport)
    return _adt(stored, message, header, partner)


def _oru(
    stored: InboundMessage, message: er7.Message, partner: LabPartner, *, ack_control_id: str, transport: str
) -> _Result:
    source = f"hl7:{stored.pk}"
    try:
        results = mapping.result_message(message, sending_facility=partner.facility, zone=_zone(), source=source)
    except mapping.MessageInvalid as exc:
        accessions, placers = _order_numbers(message)
        return _Result(
            status=InboundMessage.Status.REJECTED,
            code="AE",
            text=exc.problems[0].text,
            problems=exc.problems,
            accessions=accessions,
            placer_numbers=placers,
        )
    accessions, placers = results.accessions, results.placer_numbers
    try:
        with transaction.atomic(durable=True):
            outcome = record_result(tenant_id=partner.tenant_id, message=results, actor=f"lab:{partner.pk}")
            status = STATUS_BY_CHART[outcome.status]
            produced = outcome.produced()
            now = timezone.now()
            # The outcome and the ACK that will say it, in the clinical transaction: one write.
            with prepared_cursor() as cursor:
                cursor.execute(
                    _OUTCOME_SQL,
                    [
                        partner.tenant_id,
                        partner.pk,
                        status,
                        json.dumps(produced),
                        [str(e) for e in outcome.event_ids],
                        outcome.patient_id,
                        outcome.held_id,
                        now,
                        accessions,
                        placers,
                        outcome.detail[:2000],
                        ack_control_id,
                        now if transport == InboundMessage.Transport.HTTP else None,
                        stored.pk,
                    ],
                )
    except DomainError as exc:
        return _Result(
            status=InboundMessage.Status.REJECTED,
            code="AE",
            text=exc.describe(separator=" "),
            problems=[Problem("207", exc.describe(separator=" "))],
            accessions=accessions,
            placer_numbers=placers,
        )
    return _Result(
        accessions=accessions,
        placer_numbers=placers,
        status=status,
        code="AA",
        text=outcome.detail,
        produced=produced,
        event_ids=[str(e) for e in outcome.event_ids],
        patient_id=outcome.patient_id,
        held_id=outcome.held_id,
        committed=True,
        recorded=True,
    )


def _error_code(exc: DomainError) -> str:
    """HL7 table 0357 for a domain refusal: the sender's data, not our failure."""
    from clinic.contracts import Conflict, InvalidInput, NotFound

    if isinstance(exc, Conflict):
        return "205"  # duplicate key identifier: identifiers of another patient, a look-alike
    if isinstance(exc, NotFound):
        return "204"  # unknown key identifier
    if isinstance(exc, InvalidInput):
        return "102"  # a value identity refuses (a bad NHS number, a birth date in the future)
    return "207"


def _order_numbers(message: er7.Message) -> tuple[list[str], list[str]]:
    """(accessions, placer numbers) of a message that could not be mapped, best effort: the
    support trace must find a refused result by the numbers the lab quotes."""
    accessions, placers = set(), set()
    for obr in message.all("OBR"):
        filler, placer = obr.component(3, 1).strip()[:80], obr.component(2, 1).strip()[:80]
        if filler:
            accessions.add(filler)
        if placer:
            placers.add(placer)
    return sorted(accessions), sorted(placers)


def _demographics(p: mapping.PersonInput) -> Demographics:
    return Demographics(
        name=HumanName(family=p.family, given=p.given),
        birth_date=p.birth_date,
        gender=Gender(p.gender),
        telecom=tuple(Phone(system="phone", value=v) for v in p.phones),
        address=p.address,
    )


def _adt(stored: InboundMessage, message: er7.Message, header: _Header, partner: LabPartner) -> _Result:
    """A01/A04 register, A08 update (or register when unknown), A40 merge: through identity."""
    tenant_id = partner.tenant_id
    problems = mapping.Problems()
    zone = _zone()
    actor = f"lab:{partner.pk}"
    pids = message.all("PID")
    if not pids:
        return _Result(
            status=InboundMessage.Status.REJECTED,
            code="AE",
            text="The message has no PID segment.",
            problems=[Problem("100", "The message has no PID segment.")],
        )
    uris = identifier_system_uris(tenant_id=tenant_id)
    produced: dict[str, Any] = {"patients": [], "merges": []}
    try:
        with transaction.atomic(durable=True):
            if header.event == "A40":
                _merges(message, pids, uris, tenant_id, header, actor, problems, produced)
            else:
                person = mapping.person(pids[0], zone, problems)
                if problems.items:
                    raise mapping.MessageInvalid(problems.items)
                identifiers = [
                    IdentifierInput(system=uris[i.authority], value=i.value)
                    for i in person.identifiers
                    if i.authority in uris
                ]
                if not identifiers:
                    known = ", ".join(sorted(uris)) or "none"
                    raise mapping.MessageInvalid(
                        [
                            Problem(
                                "204",
                                f"No PID-3 identifier has an assigning authority this clinic knows (known: {known}).",
                                "PID",
                                pids[0].occurrence,
                                3,
                            )
                        ]
                    )
                found = patients_by_v2_identifiers(
                    tenant_id=tenant_id, identifiers=[(i.authority, i.value) for i in person.identifiers]
                )
                if header.event == "A08" and len(set(found.values())) == 1:
                    record = update_demographics(
                        tenant_id=tenant_id,
                        patient_id=next(iter(found.values())),
                        demographics=_demographics(person),
                        actor=actor,
                    )
                    produced["patients"].append({"id": str(record.id), "action": "updated"})
                else:
                    registration = register_patient(
                        tenant_id=tenant_id,
                        identifiers=identifiers,
                        demographics=_demographics(person),
                        actor=actor,
                    )
                    produced["patients"].append(
                        {
                            "id": str(registration.patient.id),
                            "action": "registered" if registration.created else "found",
                        }
                    )
            patient = produced["patients"][0]["id"] if produced["patients"] else None
            InboundMessage.objects.filter(pk=stored.pk).update(
                status=InboundMessage.Status.PROCESSED,
                produced=produced,
                patient_id=patient,
                committed_at=timezone.now(),
            )
    except mapping.MessageInvalid as exc:
        return _Result(
            status=InboundMessage.Status.REJECTED, code="AE", text=exc.problems[0].text, problems=exc.problems
        )
    except DomainError as exc:
        text = exc.describe(separator="; ")
        return _Result(
            status=InboundMessage.Status.REJECTED,
            code="AE",
            text=text,
            problems=[Problem(_error_code(exc), text)],
        )
    summary = ", ".join(f"{p['action']} {p['id']}" for p in produced["patients"])
    merges = ", ".join(f"{m['source']} into {m['target']}" for m in produced["merges"])
    return _Result(
        status=InboundMessage.Status.PROCESSED,
        code="AA",
        text=("Merged " + merges if merges else "Patient " + summary) + ".",
        produced=produced,
        committed=True,
    )


def _merges(
    message: er7.Message,
    pids: list[er7.Segment],
    uris: dict[str, str],
    tenant_id: int,
    header: _Header,
    actor: str,
    problems: mapping.Problems,
    produced: dict[str, Any],
) -> None:
    """ADT^A40: each PID (the survivor) is followed by its MRG (the record merged into it)."""
    segments = message.segments
    for pid in pids:
        following = segments[pid.index] if pid.index < len(segments) else None
        if following is None or following.id != "MRG":
            problems.add("100", "Each PID of an ADT^A40 must be followed by its MRG segment", pid)
            continue
        target_ids = mapping.patient_identifiers(pid, problems)
        source_ids = []
        for rep in range(len(following.repetitions(1))):
            value, authority = following.component(1, 1, rep).strip(), following.component(1, 4, rep).strip()
            if value:
                source_ids.append((authority, value))
        if not source_ids:
            problems.add("101", "MRG-1 (prior patient identifier list) is required", following, 1)
            continue
        targets = set(
            patients_by_v2_identifiers(
                tenant_id=tenant_id, identifiers=[(i.authority, i.value) for i in target_ids]
            ).values()
        )
        sources = set(patients_by_v2_identifiers(tenant_id=tenant_id, identifiers=source_ids).values())
        if len(targets) != 1:
            problems.add(
                "204",
                "PID-3 names no patient of this clinic" if not targets else "PID-3 names more than one patient",
                pid,
                3,
            )
            continue
        if len(sources) != 1:
            problems.add(
                "204",
                "MRG-1 names no patient of this clinic" if not sources else "MRG-1 names more than one patient",
                following,
                1,
            )
            continue
        (target,), (source,) = targets, sources
        if source == target:
            produced["merges"].append({"source": str(source), "target": str(target), "already": True})
            continue  # merged before (the identifiers moved with it): merging twice is a no-op
        outcome = merge_patients(
            tenant_id=tenant_id,
            source_id=source,
            target_id=target,
            reason=f"ADT^A40 {header.control_id} from {header.sending_facility or header.sending_application}",
            actor=actor,
        )
        produced["merges"].append(
            {
                "merge_id": str(outcome.merge_id),
                "source": str(source),
                "target": str(target),
                "already": outcome.already_merged,
            }
        )
    if problems.items:
        raise mapping.MessageInvalid(problems.items)


def _finish(
    stored: InboundMessage,
    header: _Header,
    partner: LabPartner | None,
    result: _Result,
    *,
    transport: str,
    ack_control_id: str,
) -> Receipt:
    now = timezone.now()
    our_facility = ""
    if partner is not None:
        our_facility = partner.tenant.slug.upper()
    elif stored.tenant_id is not None:
        our_facility = get_tenant(tenant_id=stored.tenant_id).slug.upper()
    ack = build_ack(
        code=result.code,
        acknowledged_control_id=header.control_id,
        ack_control_id=ack_control_id,
        text=result.text,
        problems=result.problems,
        at=timezone.localtime(now, _zone()),
        receiving_application=header.sending_application,
        receiving_facility=header.sending_facility,
        our_facility=our_facility,
        trigger=header.event,
        version=header.version if header.version in SUPPORTED_VERSIONS else "2.5.1",
    )
    update: dict[str, Any] = {
        "ack_code": result.code,
        "ack_text": result.text[:2000],
        "ack_control_id": ack_control_id,
        "errors": [p.as_json() for p in result.problems],
    }
    if result.accessions or result.placer_numbers:
        update["accessions"] = result.accessions
        update["placer_numbers"] = result.placer_numbers
    if not result.committed:
        update["status"] = result.status
        update["duplicate_of_id"] = result.duplicate_of
    if transport == InboundMessage.Transport.HTTP:
        update["acknowledged_at"] = now  # the ACK is the response body, handed over now
    if partner is not None:
        update["tenant_id"], update["partner_id"] = partner.tenant_id, partner.pk
    if not result.recorded:
        InboundMessage.objects.filter(pk=stored.pk).update(**update)
    logger.info(
        "hl7.received message=%s tenant=%s type=%s status=%s ack=%s",
        stored.pk,
        stored.tenant_id,
        stored.message_type,
        result.status,
        result.code,
    )
    return Receipt(ack=ack, code=result.code, message_id=stored.pk, status=result.status)


_ACK_SQL = """
UPDATE interop_inboundmessage m SET acknowledged_at = v.at
  FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::timestamptz[]) AS at) v
 WHERE m.id = v.id AND m.acknowledged_at IS NULL
"""


def mark_acknowledged(acknowledged: list[tuple[int, datetime]]) -> None:
    """Record when ACKs were handed to their senders (MLLP: after the socket write), in one
    statement for a batch."""
    if not acknowledged:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")  # bookkeeping: no wait for the disk
        cursor.execute(_ACK_SQL, [[i for i, _ in acknowledged], [at for _, at in acknowledged]])


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
    InboundMessage.objects.filter(pk=receipt.message_id).update(reprocess_of=original)
    return receipt


def mark_released(*, held_id: UUID, produced: dict[str, Any], status: str) -> int:
    """A held result was charted: its messages are processed now (``result.released``)."""
    return InboundMessage.objects.filter(held_id=held_id, status=InboundMessage.Status.HELD).update(
        status=InboundMessage.Status.DUPLICATE if status == ChartStatus.DUPLICATE else InboundMessage.Status.PROCESSED,
        produced=produced,
        event_ids=produced.get("events", []),
        patient_id=produced.get("patient"),
        committed_at=timezone.now(),
    )
