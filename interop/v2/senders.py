"""Who sent a message: the registered lab partner named by MSH-3/MSH-4, which gives the tenant a
message is charted in (over MLLP the sender alone says it; over HTTP it must be a partner of
the authenticated tenant). A lab serving several clinics of this platform is told apart by
MSH-6 (receiving facility: the clinic's code).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models import Q

from clinic.contracts import NotFound
from clinic.facade import get_tenant
from interop.models import LabPartner
from interop.v2.ack import Problem, Refused
from interop.v2.header import Header

_CACHE_LIMIT = 1000  # senders remembered per process; a platform has far fewer labs
_senders: dict[tuple[int | None, str, str, str], tuple[float, LabPartner]] = {}


def resolve_sender(header: Header, *, tenant_id: int | None) -> LabPartner:
    """The registered lab partner that sent this (see ``find_sender``). A found partner is
    remembered for ``CLINIC_HL7_SENDER_CACHE_SECONDS`` (a lab sends all day; deactivating one
    takes effect within that time); an unknown sender is looked up every time, so a lab
    registered a moment ago is recognised at once. Raises Refused."""
    key = _key(header, tenant_id)
    now = time.monotonic()
    cached = _senders.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    partner = find_sender(header, tenant_id=tenant_id)
    ttl = settings.CLINIC_HL7_SENDER_CACHE_SECONDS
    if ttl > 0:
        if len(_senders) > _CACHE_LIMIT:
            _senders.clear()
        _senders[key] = (now + ttl, partner)
    return partner


def cached_sender(header: Header, *, tenant_id: int | None) -> LabPartner | None:
    """The sender if ``resolve_sender`` recognised it within the cache time, else None."""
    cached = _senders.get(_key(header, tenant_id))
    return cached[1] if cached is not None and cached[0] > time.monotonic() else None


def forget_senders() -> None:
    """Forget every remembered sender (tests, and a process that must see changes at once)."""
    _senders.clear()


def find_sender(header: Header, *, tenant_id: int | None) -> LabPartner:
    """The registered lab partner that sent this: MSH-4 (facility) and, when the partner
    records one, MSH-3 (application). A lab serving several clinics is told apart by MSH-6.
    Raises Refused (ERR 204) for an unknown sender, one ambiguous between clinics, or a
    message addressed to another clinic."""
    facility = header.sending_facility or header.sending_application
    partners = _registered(header, facility, tenant_id=tenant_id)
    if len({p.tenant_id for p in partners}) > 1:
        partners = _addressed_clinic(partners, header, facility)
    if not partners:
        application = f" and application {header.sending_application!r}" if header.sending_application else ""
        raise _refused(
            f"Unknown sender: no active lab partner with facility {facility!r}{application} is registered here.", 4
        )
    partner = partners[0]
    receiving = header.receiving_facility.strip().lower()
    if receiving and receiving != partner.tenant.slug.lower() and _is_a_clinic(receiving):
        # Addressed (MSH-6) to another clinic of this platform that has not registered the
        # lab: never chart it in the clinic that has.
        raise _refused(
            f"MSH-6 addresses clinic {header.receiving_facility!r}, which has not registered this lab as a partner.", 6
        )
    return partner


def _registered(header: Header, facility: str, *, tenant_id: int | None) -> list[LabPartner]:
    """The active partners with this facility (of ``tenant_id`` when given) whose application,
    when they record one, is MSH-3."""
    found = LabPartner.objects.filter(Q(facility__iexact=facility), active=True).select_related("tenant")
    if tenant_id is not None:
        found = found.filter(tenant_id=tenant_id)
    application = header.sending_application.lower()
    return [p for p in found if not p.application or p.application.lower() == application]


def _addressed_clinic(partners: list[LabPartner], header: Header, facility: str) -> list[LabPartner]:
    """Of partners in several clinics, those of the clinic MSH-6 names; Refused unless one."""
    receiving = header.receiving_facility.lower()
    partners = [p for p in partners if p.tenant.slug.lower() == receiving]
    if len({p.tenant_id for p in partners}) != 1:
        raise _refused(
            f"Sender {facility!r} is registered with more than one clinic: put the clinic's code in MSH-6.", 6
        )
    return partners


def _is_a_clinic(slug: str) -> bool:
    try:
        get_tenant(slug=slug)
    except NotFound:
        return False
    return True


def _key(header: Header, tenant_id: int | None) -> tuple[int | None, str, str, str]:
    return (
        tenant_id,
        header.sending_application.lower(),
        header.sending_facility.lower(),
        header.receiving_facility.lower(),
    )


def _refused(text: str, field: int) -> Refused:
    return Refused([Problem("204", text, "MSH", 1, field)])
