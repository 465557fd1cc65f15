"""Identity reads. Everything returned to other apps is a plain record (``identity.contracts``)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from clinic.rows import ReadView
from identity import sql
from identity.contracts import (
    ContactPoint,
    Gender,
    HumanName,
    IdentifierRecord,
    IdentifierUse,
    PatientLink,
    PatientRecord,
)
from identity.errors import PatientNotFound
from identity.models import IdentifierSystem, Patient, PatientIdentifier, PatientRevision
from identity.normalise import name_key

MAX_MERGE_CHAIN = 50


def survivor_id(*, tenant_id: int, patient_id: UUID, must_exist: bool = False) -> UUID:
    """Follow ``replaced-by`` links to the active record a patient was merged into.

    Raises PatientNotFound when ``must_exist`` and there is no such patient in the tenant.
    """
    current = patient_id
    for _ in range(MAX_MERGE_CHAIN):
        found: list[UUID | None] = list(
            Patient.objects.filter(tenant_id=tenant_id, pk=current).values_list("replaced_by_id", flat=True)
        )
        if not found:
            if must_exist or current != patient_id:
                raise PatientNotFound("No such patient.")
            return current
        following = found[0]
        if following is None:
            return current
        current = following
    return current


def _with_details(qs: QuerySet[Patient]) -> QuerySet[Patient]:
    return qs.prefetch_related(
        Prefetch("identifiers", queryset=PatientIdentifier.objects.select_related("system")),
        Prefetch("replaces", queryset=Patient.objects.only("id", "replaced_by_id").order_by("id")),
    )


def to_record(
    patient: Patient,
    *,
    identifiers: list[tuple[IdentifierSystem, PatientIdentifier]] | None = None,
    replaces: list[UUID] | None = None,
) -> PatientRecord:
    """The record of a patient. Identifiers and merged-away records come from the prefetches of
    ``_with_details`` unless given (a caller that just wrote them)."""
    if identifiers is None:
        identifiers = [(i.system, i) for i in patient.identifiers.all()]
    if replaces is None:
        replaces = [p.pk for p in patient.replaces.all()]
    links = []
    if patient.replaced_by_id:
        links.append(PatientLink(type="replaced-by", other=patient.replaced_by_id))
    links += [PatientLink(type="replaces", other=pk) for pk in replaces]
    return PatientRecord(
        id=patient.pk,
        tenant_id=patient.tenant_id,
        active=patient.active,
        identifiers=tuple(
            sorted(
                (
                    IdentifierRecord(
                        system=system.uri,
                        value=i.value,
                        use=IdentifierUse(i.use),
                        assigning_authority=system.assigning_authority,
                    )
                    for system, i in identifiers
                ),
                key=lambda r: (r.system, r.value),
            )
        ),
        name=HumanName(family=patient.family, given=tuple(patient.given)),
        other_names=_other_names(patient.other_names),
        birth_date=patient.birth_date,
        gender=Gender(patient.gender),
        telecom=tuple(ContactPoint(system=t["system"], value=t["value"], use=t.get("use")) for t in patient.telecom),
        address=tuple(patient.address),
        links=tuple(links),
        version=patient.version,
        created_at=patient.created_at,
        updated_at=patient.updated_at,
    )


# Registration and every integration read one patient at a time: one round trip (``sql.PATIENT``),
# no ORM query compilation (which cost more than the database did). Same record as ``to_record``.


def get_patient(*, tenant_id: int, patient_id: UUID) -> PatientRecord:
    """The patient, active or not (a merged record shows its ``replaced-by`` link).

    Raises PatientNotFound (also for another tenant's patient)."""
    found = get_patients(tenant_id=tenant_id, patient_ids=[patient_id])
    if patient_id not in found:
        raise PatientNotFound("No such patient.")
    return found[patient_id]


def get_patients(*, tenant_id: int, patient_ids: list[UUID]) -> dict[UUID, PatientRecord]:
    """The tenant's patients among ``patient_ids`` (others are left out), by ID."""
    if not patient_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(sql.PATIENT, [tenant_id, list(patient_ids)])
        rows = cursor.fetchall()
    return {row[0]: _record_from_row(row) for row in rows}


def _record_from_row(row: tuple[Any, ...]) -> PatientRecord:
    # The columns of sql.PATIENT_ROW, in its order.
    (pid, tid, active, family, given, other_names, birth_date, gender, telecom, address, replaced_by, version,
     created_at, updated_at, identifiers, replaces) = row  # fmt: skip
    links = [PatientLink(type="replaced-by", other=replaced_by)] if replaced_by else []
    links += [PatientLink(type="replaces", other=other) for other in replaces]
    return PatientRecord(
        id=pid,
        tenant_id=tid,
        active=active,
        identifiers=tuple(
            IdentifierRecord(system=uri, value=value, use=IdentifierUse(use), assigning_authority=authority)
            for uri, value, use, authority in identifiers
        ),
        name=HumanName(family=family, given=tuple(given)),
        other_names=_other_names(other_names),
        birth_date=birth_date,
        gender=Gender(gender),
        telecom=tuple(ContactPoint(system=t["system"], value=t["value"], use=t.get("use")) for t in telecom),
        address=tuple(address),
        links=tuple(links),
        version=version,
        created_at=created_at,
        updated_at=updated_at,
    )


def _other_names(names: list[dict[str, Any]]) -> tuple[HumanName, ...]:
    return tuple(
        HumanName(family=n.get("family", ""), given=tuple(n.get("given", [])), use=n.get("use", "usual")) for n in names
    )


def patients(
    *,
    tenant_id: int,
    identifier: tuple[str, str] | None = None,
    family: str | None = None,
    birth_date: date | None = None,
) -> QuerySet[Patient]:
    """Patients for a search. By identifier, the survivor of whoever holds it (an old identifier
    of a merged patient finds the patient it was merged into)."""
    qs = Patient.objects.filter(tenant_id=tenant_id)
    if identifier is not None:
        system_uri, value = identifier
        system = IdentifierSystem.objects.filter(tenant_id=tenant_id, uri=system_uri).first()
        holder = None
        if system is not None:
            from identity.identifiers import normalise_identifier_value

            stored, _error = normalise_identifier_value(system, value)
            holder = (
                PatientIdentifier.objects.filter(tenant_id=tenant_id, system=system, value=stored)
                .values_list("patient_id", flat=True)
                .first()
            )
        if holder is None:
            return qs.none()
        qs = qs.filter(pk=survivor_id(tenant_id=tenant_id, patient_id=holder))
    if family:
        qs = qs.filter(family_key=name_key(family))
    if birth_date:
        qs = qs.filter(birth_date=birth_date)
    return _with_details(qs)


def find_patients(*, tenant_id: int, text: str, birth_date: date | None = None, limit: int = 20) -> list[PatientRecord]:
    """Patients for a search box: an identifier value held exactly (MRN, NHS number, with or
    without spaces; the survivor of a merged holder), else names starting with the words given
    ("smi", "smith ada", "ada smith"), active patients only, optionally born on ``birth_date``;
    by name. At most ``limit``."""
    words = [w for w in (name_key(part) for part in text.replace(",", " ").split()) if w]
    compact = "".join(text.split()).upper()
    if not words and not compact:
        return []
    holders = list(
        PatientIdentifier.objects.filter(tenant_id=tenant_id, value=compact).values_list("patient_id", flat=True)[
            :limit
        ]
    )
    if holders:
        found = {survivor_id(tenant_id=tenant_id, patient_id=holder) for holder in holders}
        return sorted(get_patients(tenant_id=tenant_id, patient_ids=list(found)).values(), key=_by_name)
    if not words:
        return []
    qs = Patient.objects.filter(tenant_id=tenant_id, active=True, family_key__startswith=words[0])
    if len(words) > 1:
        # "family given" or "given family": either order, both must start a name.
        qs = Patient.objects.filter(tenant_id=tenant_id, active=True).filter(
            Q(family_key__startswith=words[0], given_key__startswith=words[1])
            | Q(family_key__startswith=words[1], given_key__startswith=words[0])
        )
    if birth_date is not None:
        qs = qs.filter(birth_date=birth_date)
    ids = list(qs.order_by("family_key", "given_key", "birth_date", "id").values_list("pk", flat=True)[:limit])
    return sorted(get_patients(tenant_id=tenant_id, patient_ids=ids).values(), key=_by_name)


def _by_name(record: PatientRecord) -> tuple[str, str, str]:
    return (
        name_key(record.name.family),
        name_key(" ".join(record.name.given)),
        record.birth_date.isoformat() if record.birth_date else "",
    )


def find_patient_by_identifier(*, tenant_id: int, system: str, value: str) -> PatientRecord | None:
    """The surviving patient holding this identifier (old identifiers of merged patients
    included), or None."""
    found = patients(tenant_id=tenant_id, identifier=(system, value)).first()
    return to_record(found) if found else None


def search_patients(*, tenant_id: int, family: str, birth_date: date) -> list[PatientRecord]:
    return [to_record(p) for p in patients(tenant_id=tenant_id, family=family, birth_date=birth_date)]


def identifier_systems(*, tenant_id: int) -> QuerySet[IdentifierSystem]:
    return IdentifierSystem.objects.filter(tenant_id=tenant_id).order_by("uri")


def merge_preview(*, tenant_id: int, source_id: UUID) -> list[tuple[str, str, int]]:
    """What merging ``source`` away would move: (what, detail, count) rows for a preview."""
    from identity import references

    rows: list[tuple[str, str, int]] = []
    idents = PatientIdentifier.objects.filter(tenant_id=tenant_id, patient_id=source_id).select_related("system")
    for ident in idents:
        rows.append(("identifier", f"{ident.system.uri}|{ident.value} ({ident.use} → old)", 1))
    for ref in references.registered():
        count = ref.model._default_manager.filter(**{ref.field: source_id}).count()
        if count:
            rows.append(("reference", f"{ref.label}.{ref.field}", count))
    return rows


def identifier_system_uris(*, tenant_id: int) -> dict[str, str]:
    """The tenant's identifier system URIs by HL7 v2 assigning authority (CX-4)."""
    return dict(
        IdentifierSystem.objects.filter(tenant_id=tenant_id).order_by().values_list("assigning_authority", "uri")
    )


def patients_by_v2_identifiers(*, tenant_id: int, identifiers: list[tuple[str, str]]) -> dict[tuple[str, str], UUID]:
    """Surviving patient per (assigning authority, value) found; unknown authorities and values
    are left out. A value is looked up as sent and compacted (no spaces or hyphens: how NHS
    numbers are stored). One query in the common case (no merge chains)."""
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    for authority, value in identifiers:
        stripped = value.strip()
        for variant in (stripped, stripped.replace(" ", "").replace("-", "")):
            if variant:
                wanted.setdefault((authority, variant), (authority, value))
    if not wanted:
        return {}
    params: list[Any] = [tenant_id]
    for authority, stored in wanted:
        params += [authority, stored]
    from clinic.db import prepared_cursor

    with prepared_cursor() as cursor:
        cursor.execute(sql.PATIENTS_BY_V2_IDENTIFIERS.format(pairs=", ".join(["(%s, %s)"] * len(wanted))), params)
        rows = cursor.fetchall()
    found: dict[tuple[str, str], UUID] = {}
    for authority, stored, patient_id, merged in rows:
        # A merged record's survivor may itself have been merged since: follow the chain.
        pid = survivor_id(tenant_id=tenant_id, patient_id=patient_id) if merged else patient_id
        found[wanted[(authority, stored)]] = pid
    return found


# --- Read views (clinic.rows): the FHIR API's Patient -----------------------------------------

READ_VIEWS = {
    "patient": ReadView(
        model=Patient,
        fields={
            "id": "id",
            "family": "family",
            "given": "given",
            "other_names": "other_names",
            "birth_date": "birth_date",
            "gender": "gender",
            "telecom": "telecom",
            "address": "address",
            "active": "active",
            "replaced_by": "replaced_by_id",
            "version": "version",
            "created_at": "created_at",
            "updated_at": "updated_at",
            "family_key": "family_key",
            "given_key": "given_key",
        },
        # A to-many path, for ``isnull`` only (FHIR ``identifier:missing``): ``isnull=True`` is a
        # LEFT JOIN that repeats no row, and its negation (``Not``) a subquery.
        filters={"identifier_id": "identifiers__id"},
    ),
    "patient_identifier": ReadView(
        model=PatientIdentifier,
        fields={"id": "id", "patient": "patient_id", "system": "system__uri", "value": "value", "use": "use"},
    ),
    # Versions a change replaced (trigger of migration 0004); the current one is the patient row.
    "patient_revision": ReadView(
        model=PatientRevision,
        fields={
            "id": "id",
            "patient": "patient_id",
            "version": "version",
            "content": "content",
            "recorded_at": "recorded_at",
        },
    ),
}
