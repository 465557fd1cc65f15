"""Interop writes: lab partners (the labs a tenant exchanges HL7 v2 with). Order messages to
them are ``interop.v2.outbound_orders``."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from clinic.contracts import FieldProblem, InvalidInput
from interop.errors import LabPartnerExists
from interop.models import LabPartner
from interop.v2 import charsets
from interop.v2.order_profiles import DEFAULT_PROFILE, profiles
from results.contracts import UnsolicitedResults


def create_lab_partner(
    *,
    tenant_id: int,
    name: str,
    facility: str,
    application: str = "",
    mllp_host: str = "",
    mllp_port: int | None = None,
    charset: str = charsets.DEFAULT,
    unsolicited_results: str = UnsolicitedResults.HOLD.value,
    outbound_profile: str = DEFAULT_PROFILE,
) -> LabPartner:
    """Register a lab. Raises InvalidInput, LabPartnerExists."""
    problems = []
    known = charsets.lookup(charset)
    if known is None:
        problems.append(FieldProblem("charset", f"{charset!r} is not one of {charsets.supported()}"))
    if not name.strip():
        problems.append(FieldProblem("name", "must not be blank"))
    if not facility.strip():
        problems.append(FieldProblem("facility", "must not be blank (MSH-4 of their messages)"))
    if bool(mllp_host) != (mllp_port is not None):
        problems.append(FieldProblem("mllp", "give both a host and a port, or neither"))
    if mllp_port is not None and not 1 <= mllp_port <= 65535:
        problems.append(FieldProblem("mllp_port", "must be 1 to 65535"))
    if unsolicited_results not in {u.value for u in UnsolicitedResults}:
        problems.append(FieldProblem("unsolicited_results", "must be 'hold' or 'chart'"))
    if outbound_profile not in profiles():
        problems.append(FieldProblem("outbound_profile", f"{outbound_profile!r} is not one of {', '.join(profiles())}"))
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
                charset=known.hl7 if known else charset,
                unsolicited_results=unsolicited_results,
                outbound_profile=outbound_profile,
            )
    except IntegrityError as exc:
        raise LabPartnerExists(f"This tenant already has a lab partner named {name!r}.") from exc
