"""ADT (HL7 v2.5.1 chapter 3: PID, MRG) into identity: A01/A04 register a patient, A08 updates
one (or registers one it does not know), A40 merges the MRG patient into the PID patient, each
through ``identity.facade`` in one transaction with the message's stored outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db import transaction

from clinic.contracts import Conflict, DomainError, InvalidInput, NotFound
from identity.contracts import ContactPoint, Demographics, Gender, HumanName, IdentifierInput
from identity.facade import (
    get_patient,
    identifier_system_uris,
    merge_patients,
    patients_by_v2_identifiers,
    register_patient,
    update_demographics,
)
from interop.models import InboundMessage, LabPartner
from interop.v2 import store
from interop.v2.ack import MessageInvalid, Problem
from interop.v2.er7 import Message, Segment
from interop.v2.fields import FieldReader, Problems, local_zone, patient_identifiers
from interop.v2.header import Header
from results.contracts import PatientIdentifierInput

SEX = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}  # table 0001


@dataclass(frozen=True, slots=True)
class PersonInput:
    """What an ADT PID says about a person."""

    identifiers: tuple[PatientIdentifierInput, ...]
    family: str
    given: tuple[str, ...]
    birth_date: date | None
    gender: str  # FHIR AdministrativeGender
    telecom: tuple[ContactPoint, ...]
    address: tuple[dict[str, object], ...]


@dataclass(frozen=True, slots=True)
class _Context:
    """Who a message is applied for: the sender's clinic, as which actor, with which systems."""

    tenant_id: int
    actor: str
    uris: dict[str, str]  # assigning authority (CX-4) → identifier system URI, of the clinic
    header: Header
    zone: ZoneInfo


# --- Applying (the use case) ----------------------------------------------------------------------


def apply_adt(received: store.Received, message: Message, header: Header, partner: LabPartner) -> store.Outcome:
    """Register, update or merge as the message says, for ``partner``'s clinic, in one
    transaction (durable: this is the use case) with the message's outcome. A message that
    cannot be applied as sent, or that identity refuses, is an AE outcome: nothing is written."""
    pids = message.all("PID")
    if not pids:
        return store.Outcome.rejected("AE", [Problem("100", "The message has no PID segment.")])
    context = _Context(
        tenant_id=partner.tenant_id,
        actor=f"lab:{partner.pk}",
        uris=identifier_system_uris(tenant_id=partner.tenant_id),
        header=header,
        zone=local_zone(),
    )
    produced: dict[str, Any] = {"patients": [], "merges": []}
    try:
        with transaction.atomic(durable=True):
            if header.event == "A40":
                produced["merges"] = _merges(message, pids, context)
            else:
                produced["patients"].append(_register_or_update(pids[0], context))
            patient = produced["patients"][0]["id"] if produced["patients"] else None
            store.record_processed(received, produced=produced, patient_id=patient)
    except MessageInvalid as exc:
        return store.Outcome.rejected("AE", exc.problems)
    except DomainError as exc:
        text = exc.describe(separator="; ")
        return store.Outcome.rejected("AE", [Problem(error_code(exc), text)], text)
    return store.Outcome(
        status=InboundMessage.Status.PROCESSED, code="AA", text=_summary(produced), produced=produced, committed=True
    )


def error_code(exc: DomainError) -> str:
    """HL7 table 0357 for a domain refusal: the sender's data, not our failure."""
    if isinstance(exc, Conflict):
        return "205"  # duplicate key identifier: identifiers of another patient, a look-alike
    if isinstance(exc, NotFound):
        return "204"  # unknown key identifier
    if isinstance(exc, InvalidInput):
        return "102"  # a value identity refuses (a bad NHS number, a birth date in the future)
    return "207"


ACTION_WORDS = {
    "registered": "registered",
    "found": "found (already registered)",
    "updated": "updated",
    "unchanged": "unchanged (the message repeats what is on record)",
}


def _summary(produced: dict[str, Any]) -> str:
    """The ACK's text: what was done to whom."""
    merges = ", ".join(
        f"{m['source']} into {m['target']}" + (" (merged before)" if m.get("already") else "")
        for m in produced["merges"]
    )
    if merges:
        return f"Merged {merges}."
    return " ".join(f"Patient {p['id']} {ACTION_WORDS[p['action']]}." for p in produced["patients"])


def _register_or_update(pid: Segment, context: _Context) -> dict[str, str]:
    """A01/A04: register (or find) the patient. A08: update the one patient PID-3 names, or
    register one when PID-3 names none (or several)."""
    problems = Problems()
    found_person = person(pid, context.zone, problems)
    if problems.items:
        raise MessageInvalid(problems.items)
    identifiers = [
        IdentifierInput(system=context.uris[i.authority], value=i.value)
        for i in found_person.identifiers
        if i.authority in context.uris
    ]
    if not identifiers:
        known = ", ".join(a or "(none)" for a in sorted(context.uris)) or "none"
        raise MessageInvalid(
            [
                Problem(
                    "204",
                    f"No PID-3 identifier has an assigning authority this clinic knows (known: {known}).",
                    "PID",
                    pid.occurrence,
                    3,
                )
            ]
        )
    found = patients_by_v2_identifiers(
        tenant_id=context.tenant_id, identifiers=[(i.authority, i.value) for i in found_person.identifiers]
    )
    if context.header.event == "A08" and len(set(found.values())) == 1:
        patient_id = next(iter(found.values()))
        before = get_patient(tenant_id=context.tenant_id, patient_id=patient_id).version
        record = update_demographics(
            tenant_id=context.tenant_id,
            patient_id=patient_id,
            demographics=demographics(found_person),
            actor=context.actor,
        )
        # identity writes (and versions) only what changed: an A08 repeating the record is no update.
        return {"id": str(record.id), "action": "updated" if record.version != before else "unchanged"}
    registration = register_patient(
        tenant_id=context.tenant_id,
        identifiers=identifiers,
        demographics=demographics(found_person),
        actor=context.actor,
    )
    return {"id": str(registration.patient.id), "action": "registered" if registration.created else "found"}


def _merges(message: Message, pids: list[Segment], context: _Context) -> list[dict[str, Any]]:
    """ADT^A40: each PID (the survivor) is followed by its MRG (the record merged into it).
    Raises MessageInvalid naming every pair that cannot be merged."""
    problems = Problems()
    merges = []
    segments = message.segments
    for pid in pids:
        mrg = segments[pid.index] if pid.index < len(segments) else None
        if mrg is None or mrg.id != "MRG":
            problems.add("100", "Each PID of an ADT^A40 must be followed by its MRG segment", pid)
            continue
        merge = _merge(pid, mrg, context, problems)
        if merge is not None:
            merges.append(merge)
    if problems.items:
        raise MessageInvalid(problems.items)
    return merges


def _merge(pid: Segment, mrg: Segment, context: _Context, problems: Problems) -> dict[str, Any] | None:
    """Merge the patient MRG-1 names into the one PID-3 names; None (with problems) when
    either does not name exactly one patient. Merging twice is a no-op."""
    target_ids = [(i.authority, i.value) for i in patient_identifiers(pid, problems)]
    source_ids = []
    for rep in range(len(mrg.repetitions(1))):
        value, authority = mrg.component(1, 1, rep).strip(), mrg.component(1, 4, rep).strip()
        if value:
            source_ids.append((authority, value))
    if not source_ids:
        problems.add("101", "MRG-1 (prior patient identifier list) is required", mrg, 1)
        return None
    target = _one_patient(target_ids, context, problems, pid, 3)
    source = _one_patient(source_ids, context, problems, mrg, 1) if target is not None else None
    if target is None or source is None:
        return None
    if source == target:
        # Merged before (the identifiers moved with it).
        return {"source": str(source), "target": str(target), "already": True}
    header = context.header
    outcome = merge_patients(
        tenant_id=context.tenant_id,
        source_id=source,
        target_id=target,
        reason=f"ADT^A40 {header.control_id} from {header.sending_facility or header.sending_application}",
        actor=context.actor,
    )
    return {
        "merge_id": str(outcome.merge_id),
        "source": str(source),
        "target": str(target),
        "already": outcome.already_merged,
    }


def _one_patient(
    identifiers: list[tuple[str, str]], context: _Context, problems: Problems, segment: Segment, n: int
) -> UUID | None:
    """The one patient these (authority, value) identifiers name, else None with a problem."""
    found = set(patients_by_v2_identifiers(tenant_id=context.tenant_id, identifiers=identifiers).values())
    if len(found) != 1:
        where = f"{segment.id}-{n}"
        problems.add(
            "204",
            f"{where} names no patient of this clinic" if not found else f"{where} names more than one patient",
            segment,
            n,
        )
        return None
    (patient,) = found
    return patient


# --- Mapping --------------------------------------------------------------------------------------


def demographics(p: PersonInput) -> Demographics:
    return Demographics(
        name=HumanName(family=p.family, given=p.given),
        birth_date=p.birth_date,
        gender=Gender(p.gender),
        telecom=p.telecom,
        address=p.address,
    )


def person(pid: Segment, zone: ZoneInfo, problems: Problems) -> PersonInput:
    """PID as a person: identifiers (PID-3), name (PID-5), birth date (PID-7), sex (PID-8,
    table 0001), address (PID-11), home phone and e-mail (PID-13)."""
    r = FieldReader(zone, problems)
    identifiers = patient_identifiers(pid, problems)
    family = pid.component(5, 1).strip()
    if not family:
        problems.add("101", "PID-5.1 (family name) is required", pid, 5, 1)
    given = tuple(g for g in (pid.component(5, 2).strip(), pid.component(5, 3).strip()) if g)
    born = r.when(pid, 7)
    sex = pid.field(8).strip().upper()[:1]
    if sex and sex not in SEX:
        problems.add("103", f"PID-8 sex {sex!r} is not in HL7 table 0001 (M, F, O, U, A, N)", pid, 8)
    return PersonInput(
        identifiers=identifiers,
        family=family[:100],
        given=tuple(g[:100] for g in given),
        birth_date=born.date() if born else None,
        gender=SEX.get(sex, "unknown"),
        telecom=_telecom(pid),
        address=_addresses(pid),
    )


def _addresses(pid: Segment) -> tuple[dict[str, object], ...]:
    """PID-11 repetitions (XAD: street ^ other ^ city ^ state ^ postal code ^ country) as FHIR
    Address elements, empty parts left out."""
    address: list[dict[str, object]] = []
    for rep in range(len(pid.repetitions(11))):
        parts = pid.components(11, rep) + [""] * 6
        line = [p for p in (parts[0].strip(), parts[1].strip()) if p]
        entry: dict[str, object] = {
            k: v
            for k, v in {
                "line": line,
                "city": parts[2].strip(),
                "state": parts[3].strip(),
                "postalCode": parts[4].strip(),
                "country": parts[5].strip(),
            }.items()
            if v
        }
        if entry:
            address.append(entry)
    return tuple(address)


# XTN-2 telecommunication use code (HL7 table 0201) → FHIR ContactPoint.use.
XTN_USE = {"PRN": "home", "ORN": "home", "VHN": "temp", "WPN": "work"}
# XTN-3 telecommunication equipment type (HL7 table 0202) → FHIR ContactPoint.system.
XTN_SYSTEM = {"FX": "fax", "BP": "pager", "INTERNET": "email", "X.400": "email"}


def _telecom(pid: Segment) -> tuple[ContactPoint, ...]:
    """PID-13 repetitions (XTN, HL7 v2.5.1 2.A.89) as contact points; empty ones left out."""
    found = (_contact_point(pid, rep) for rep in range(len(pid.repetitions(13))))
    return tuple(point for point in found if point is not None)


def _contact_point(pid: Segment, rep: int) -> ContactPoint | None:
    """One XTN. The number is XTN-1 (its only form before v2.3, withdrawn in v2.7), else its
    components (XTN-5 country code, XTN-6 area code, XTN-7 local number, XTN-8 extension: the
    only form from v2.7 on), else XTN-12 (unformatted). An e-mail address (XTN-3 ``Internet``
    or XTN-2 ``NET``) is XTN-4."""
    parts = [p.strip() for p in pid.components(13, rep)] + [""] * 12
    use_code, equipment = parts[1].upper(), parts[2].upper()
    system = "email" if use_code == "NET" else XTN_SYSTEM.get(equipment, "phone")
    value = (parts[3] or parts[0]) if system == "email" else (parts[0] or _structured_number(parts) or parts[11])
    if not value:
        return None
    use = "mobile" if equipment == "CP" else XTN_USE.get(use_code)
    return ContactPoint(system=system, value=value[:50], use=use)


def _structured_number(parts: list[str]) -> str:
    """XTN-5/6/7/8 as one number: ``+44 20 79460000 ext. 12`` (no local number, no number)."""
    country, area, local, extension = parts[4].lstrip("+"), parts[5], parts[6], parts[7]
    if not local:
        return ""
    number = " ".join(p for p in (f"+{country}" if country else "", area, local) if p)
    return f"{number} ext. {extension}" if extension else number
