"""A dry run of a lab partner's messages (``manage.py partner_check``, and the golden projections
of every sample message in the repository): each message goes through the real intake, in one
transaction that is rolled back, and comes out as what it would do: the ACK the lab would get,
and the projection a clinician would see (the patient it resolves to, each report and
observation with codes, translations, values, units, flags and notes, where it is filed, what
is held or unmapped and why). Nothing is written: no row, no event, no message sent (events and
sends run after commit, and there is none).

The projection names things by what they are to people, not by our IDs, so it is the same on
every run: a patient by the identifier the lab knows them by, an order by its placer number,
an encounter by the order or visit it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import transaction

from clinic.contracts import NotFound
from clinic.facade import get_tenant
from clinic.rows import RowQuery, Where
from identity.facade import get_patient, patients_by_v2_identifiers
from interop.models import InboundMessage, LabPartner
from interop.v2 import charsets, er7
from interop.v2.intake import Receipt, receive
from interop.v2.senders import forget_senders
from orders.facade import get_order
from results import facade as results

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_MESSAGE_ID = re.compile(r"\bmessage \d+\b")
LOINC = "http://loinc.org"
ADDRESS_PARTS = ("city", "state", "postalCode", "country")


class _RolledBack(Exception):
    """Ends the dry run's transaction: nothing it did is kept."""


@contextmanager
def rolled_back() -> Iterator[None]:
    """A transaction that is always rolled back, inside which intake's own (durable)
    transactions may run as savepoints, as they do in Django's test cases; callbacks on commit
    (event dispatch, MLLP sends) are dropped with it."""
    try:
        with transaction.atomic():
            transaction.get_connection().atomic_blocks[-1]._from_testcase = True
            yield
            raise _RolledBack
    except _RolledBack:
        pass


@dataclass
class Labels:
    """Readable, stable names for the rows a message touches (IDs differ on every run)."""

    tenant_id: int
    clinic: str
    patients: dict[UUID, str] = field(default_factory=dict)

    def patient(self, patient_id: UUID | str | None) -> str | None:
        if patient_id is None:
            return None
        key = UUID(str(patient_id))
        if key not in self.patients:
            try:
                record = get_patient(tenant_id=self.tenant_id, patient_id=key)
            except NotFound:
                return "a patient of another clinic"
            # The identifier a lab would know them by: any but the MRN we mint, else ours; the
            # old ones of a record merged away.
            known = sorted(
                (i.use == "old", i.assigning_authority == self.clinic, i.assigning_authority, i.value)
                for i in record.identifiers
            )
            self.patients[key] = f"{known[0][2] or '(no authority)'}|{known[0][3]}" if known else "(no identifier)"
        return self.patients[key]

    def prime(self, raw: bytes) -> None:
        """Name the patients a message's PID-3 and MRG-1 identify before it is delivered: a
        record merged away by it has no identifiers of its own afterwards."""
        wanted: list[tuple[str, str]] = []
        for line in er7.normalise(raw.decode("latin-1")).split("\r"):
            fields = line.split("|")
            n = {"PID": 3, "MRG": 1}.get(fields[0])
            if n is None or len(fields) <= n:
                continue
            for rep in fields[n].split("~"):
                parts = [*rep.split("^"), "", "", "", ""]
                if parts[0].strip():
                    wanted.append((parts[3].split("&")[0].strip(), parts[0].strip()))
        if wanted:
            for patient_id in set(patients_by_v2_identifiers(tenant_id=self.tenant_id, identifiers=wanted).values()):
                self.patient(patient_id)

    def text(self, text: str) -> str:
        """``text`` with patient IDs named and message IDs left out."""
        text = _MESSAGE_ID.sub("an earlier message", text)
        return _UUID.sub(lambda m: self.patient(m.group()) or m.group(), text)


def _coding(coded: dict[str, Any] | None) -> str:
    if not coded:
        return ""
    system = coded.get("system") or "(no system)"
    display = f" {coded['display']}" if coded.get("display") else ""
    return f"{system}|{coded.get('code', '')}{display}"


def _translation(coded: dict[str, Any]) -> str:
    original, translated = coded.get("original") or {}, coded.get("translated")
    if translated:
        map_ = coded.get("map") or {}
        via = f" (map {map_.get('name')} {map_.get('version')})" if map_.get("name") else ""
        return f"{_coding(translated)}{via}"
    if original.get("system") == LOINC:
        return "LOINC as sent"
    return "unmapped: on the clinic's unmapped-codes work list"


def _value(row: dict[str, Any]) -> str:
    if row["value_quantity"] is not None:
        number = format(row["value_quantity"].normalize(), "f")
        high = f"{format(row['value_high'].normalize(), 'f')}" if row["value_high"] is not None else ""
        return f"{row['value_comparator']}{number}{row['value_separator']}{high}"
    if row["value_coded"]:
        return _coding(row["value_coded"])
    return str(row["value_string"])


def _observation(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "set_id": row["set_id"],
        "code": _coding((row["coded"] or {}).get("original")),
        "translated": _translation(row["coded"] or {}),
        "type": row["value_type"],
        "value": _value(row),
    }
    if row["unit"] or row["unit_ucum"]:
        out["unit"] = row["unit"] + (f" (UCUM {row['unit_ucum']})" if row["unit_ucum"] else " (not UCUM)")
    if row["reference_range"]:
        out["range"] = row["reference_range"]
    if row["abnormal_flags"]:
        out["flags"] = " ".join(row["abnormal_flags"])
        out["interpretation"] = [_coding(c) for c in row["interpretation"] or []]
    out["status"] = row["status"]
    if row["effective_at"]:
        out["observed_at"] = row["effective_at"].isoformat()
    if row["comments"]:
        out["notes"] = list(row["comments"])
    if row.get("performer"):
        out["performed_by"] = row["performer"].get("name", "")
    return out


def _where(row: dict[str, Any], tenant_id: int) -> dict[str, Any]:
    """Where a report is filed: its order (and so the order's encounter), a visit, or neither."""
    if row["order"] is not None:
        order = get_order(tenant_id=tenant_id, order_id=row["order"])
        return {"order": order.placer_number, "encounter": f"the encounter of order {order.placer_number}"}
    # No order here: an unsolicited result (charted only when its partner charts them).
    if row["encounter"] is not None:
        return {"order": None, "encounter": "the visit PV1-19 names", "without_order": True}
    return {"order": None, "encounter": None, "without_order": True}


def _reports(tenant_id: int, report_ids: list[str]) -> list[dict[str, Any]]:
    if not report_ids:
        return []
    ids = [UUID(r) for r in report_ids]
    rows = {
        r["id"]: r
        for r in results.read_rows(
            view="diagnostic_report", query=RowQuery(tenant_id=tenant_id, where=(Where("id", "in", ids),))
        )
    }
    observations: dict[UUID, list[dict[str, Any]]] = {}
    for o in results.read_rows(
        view="observation", query=RowQuery(tenant_id=tenant_id, where=(Where("report", "in", ids),))
    ):
        observations.setdefault(o["report"], []).append(o)
    out = []
    for report_id in dict.fromkeys(ids):
        row = rows[report_id]
        report: dict[str, Any] = {
            "code": _coding((row["coded"] or {}).get("original")),
            "translated": _translation(row["coded"] or {}),
            "placer_number": row["placer_number"],
            "filler_number": row["filler_number"],
            "accession": row["accession"],
            **_where(row, tenant_id),
            "status": row["status"],
        }
        if row["effective_at"]:
            report["observed_at"] = row["effective_at"].isoformat()
        if row["specimen"]:
            spec = row["specimen"]
            report["specimen"] = {
                k: v
                for k, v in {
                    "id": spec.get("id"),
                    "type": _coding(spec.get("type")),
                    "collected_at": spec.get("collected_at"),
                    "received_at": spec.get("received_at"),
                }.items()
                if v
            }
        if row["comments"]:
            report["notes"] = list(row["comments"])
        found = sorted(observations.get(report_id, []), key=lambda o: (len(o["set_id"]), o["set_id"], o["code_key"]))
        report["observations"] = [_observation(o) for o in found]
        out.append(report)
    return out


def _person(tenant_id: int, patient_id: str, labels: Labels) -> dict[str, Any]:
    record = get_patient(tenant_id=tenant_id, patient_id=UUID(patient_id))
    return {
        "patient": labels.patient(patient_id),
        "identifiers": sorted(
            f"{i.assigning_authority}|{i.value}" + (" (old)" if i.use == "old" else "")
            for i in record.identifiers
            if i.assigning_authority != labels.clinic  # the MRN we mint differs on every run
        ),
        "name": " ".join([*record.name.given, record.name.family]).strip(),
        "birth_date": record.birth_date.isoformat() if record.birth_date else None,
        "gender": record.gender.value,
        "telecom": [f"{t.system}: {t.value}" + (f" ({t.use})" if t.use else "") for t in record.telecom],
        "address": [
            ", ".join(str(p) for p in [*a.get("line", []), *(a.get(k) for k in ADDRESS_PARTS)] if p)
            for a in record.address
        ],
        "active": record.active,
    }


def _charset(raw: bytes, partner: LabPartner | None) -> str:
    """The character set a message was read in: its MSH-18, else its partner's default."""
    try:
        msh = er7.parse(er7.normalise(raw.decode("latin-1")).split("\r", 1)[0]).msh
    except er7.ER7Error:
        return ""
    declared = msh.component(18, 1).strip()
    return declared or (f"{partner.charset} (the partner's default)" if partner else "")


def project(message_id: int, labels: Labels) -> dict[str, Any]:
    """What one stored message did, for people (inside the dry run's transaction)."""
    stored = InboundMessage.objects.select_related("partner").get(pk=message_id)
    partner = stored.partner
    out: dict[str, Any] = {
        "message": {
            "type": stored.message_type,
            "control_id": stored.control_id,
            "version": stored.version,
            "sender": f"{stored.sending_application} / {stored.sending_facility}",
            "charset": _charset(bytes(stored.raw), partner),
        },
        "partner": partner.name if partner is not None else None,
        "ack": {
            "code": stored.ack_code,
            "text": labels.text(stored.ack_text),
            "errors": [
                {"where": e["location"], "code": e["code"], "text": labels.text(e["text"])} for e in stored.errors
            ],
        },
        "status": stored.status,
    }
    if stored.tenant_id is None:
        return out
    produced = stored.produced or {}
    if produced.get("patient"):
        out["patient"] = labels.patient(produced["patient"])
    if stored.held_id:
        out["held"] = labels.text(stored.ack_text)
    if produced.get("reports"):
        out["reports"] = _reports(stored.tenant_id, produced["reports"])
    people = produced.get("patients", [])
    if people:
        out["patients"] = [{"action": p["action"], **_person(stored.tenant_id, p["id"], labels)} for p in people]
    if produced.get("merges"):
        out["merges"] = [
            {
                "merged": labels.patient(m["source"]),
                "into": labels.patient(m["target"]),
                "already_merged": bool(m.get("already")),
            }
            for m in produced["merges"]
        ]
    return out


def project_receipt(receipt: Receipt, labels: Labels) -> dict[str, Any]:
    """A delivery's projection: the message's, or for a batch, the batch ACK's verdict and
    each of its messages'."""
    if receipt.status == "batch":
        return {
            "batch": {"ack_code": receipt.code, "messages": len(receipt.batch_ids)},
            "messages": [project(i, labels) for i in receipt.batch_ids],
        }
    if not receipt.message_id:
        return {"ack": {"code": receipt.code, "text": "the message could not be stored"}, "status": receipt.status}
    return project(receipt.message_id, labels)


@dataclass(frozen=True)
class Overrides:
    """Partner settings to try in the dry run (the partner keeps its own)."""

    charset: str | None = None
    unsolicited_results: str | None = None
    outbound_profile: str | None = None


def check_messages(
    *,
    tenant_id: int,
    messages: Iterable[tuple[str, bytes]],
    partner_id: int | None = None,
    overrides: Overrides | None = None,
) -> list[dict[str, Any]]:
    """Deliver each (name, bytes) in order as the clinic would receive it (over HTTP: the
    sender must be one of the clinic's partners), in one transaction rolled back at the end,
    and return each message's projection. With ``partner_id``, each message is expected from
    that partner (a note says when another was recognised) and ``overrides`` apply to it.
    Raises NotFound for an unknown partner, ValueError for an override that is not a setting."""
    tenant = get_tenant(tenant_id=tenant_id)
    labels = Labels(tenant_id=tenant_id, clinic=tenant.slug.upper())
    out: list[dict[str, Any]] = []
    forget_senders()  # the partner as it is now (and as overridden below)
    with rolled_back():
        partner = None
        if partner_id is not None:
            partner = LabPartner.objects.filter(tenant_id=tenant_id, pk=partner_id).first()
            if partner is None:
                raise NotFound("No such lab partner in this clinic.")
            if overrides is not None:
                _override(partner, overrides)
        for name, raw in messages:
            labels.prime(raw)
            receipt = receive(
                raw=raw, transport=InboundMessage.Transport.HTTP, peer="partner_check", tenant_id=tenant_id
            )
            projection = {"file": name, **project_receipt(receipt, labels)}
            if partner is not None and projection.get("partner") not in (None, partner.name):
                projection["note"] = f"Filed under partner {projection['partner']!r}, not {partner.name!r}."
            out.append(projection)
    forget_senders()  # what the dry run cached was rolled back
    return out


def _override(partner: LabPartner, overrides: Overrides) -> None:
    from interop.v2.order_profiles import profiles

    if overrides.charset is not None:
        known = charsets.lookup(overrides.charset)
        if known is None:
            raise ValueError(f"charset {overrides.charset!r} is not one of {charsets.supported()}")
        partner.charset = known.hl7
    if overrides.unsolicited_results is not None:
        if overrides.unsolicited_results not in ("hold", "chart"):
            raise ValueError("unsolicited results are 'hold' or 'chart'")
        partner.unsolicited_results = overrides.unsolicited_results
    if overrides.outbound_profile is not None:
        if overrides.outbound_profile not in profiles():
            raise ValueError(f"no outbound profile {overrides.outbound_profile!r}")
        partner.outbound_profile = overrides.outbound_profile
    partner.save()
