"""Whose result it is and where it goes: the patient PID-3 names, each OBR's order (OBR-2/3)
or the visit PV1-19 names, and the encounter. When we cannot tell, a ``Hold`` says why: the
result waits in the work queue, never charted to a guess."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from encounters.contracts import EncounterRef
from encounters.facade import find_encounter_by_visit_number
from identity.facade import patients_by_v2_identifiers, resolve_patient_id
from orders.contracts import OrderRecord
from orders.facade import find_order, get_order
from results.contracts import HoldReason, ReportInput, ResultMessage, UnsolicitedResults


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a result cannot be charted now."""

    reason: HoldReason
    detail: str


@dataclass(slots=True)
class Target:
    """Where one report goes: its order (and the order's encounter), or the visit PV1-19 names."""

    order: OrderRecord | None
    encounter_id: UUID | None
    visit_number: str
    unsolicited: bool = False  # charted without its order (``UnsolicitedResults.CHART``)


@dataclass(slots=True)
class Resolved:
    """The patient of the message and one target per report, in the order of the reports."""

    patient_id: UUID
    targets: list[Target] = field(default_factory=list)


def resolve(
    tenant_id: int,
    message: ResultMessage,
    *,
    patient_id: UUID | None = None,
    order_id: UUID | None = None,
    unsolicited: UnsolicitedResults = UnsolicitedResults.HOLD,
) -> Resolved | Hold:
    """Who and where the result is for; a ``Hold`` with the reason when we cannot tell.
    ``patient_id`` and ``order_id`` are an admin's choice (the order applies to the reports whose
    own numbers find none). ``unsolicited``: hold a report whose order is not found, or chart it
    without one (to PV1-19's visit, else to no encounter). Raises NotFound (``order_id`` of no
    order)."""
    if patient_id is None:
        named = _patient_named_by(tenant_id, message)
        if isinstance(named, Hold):
            return named
        patient_id = named
    visit = None
    if message.visit_number:
        visit = find_encounter_by_visit_number(tenant_id=tenant_id, visit_number=message.visit_number)
    chosen = get_order(tenant_id=tenant_id, order_id=order_id) if order_id is not None else None
    resolved = Resolved(patient_id=patient_id)
    for report in message.reports:
        target = _target_of(tenant_id, report, patient_id, visit=visit, chosen_order=chosen, unsolicited=unsolicited)
        if isinstance(target, Hold):
            return target
        resolved.targets.append(target)
    return resolved


def _patient_named_by(tenant_id: int, message: ResultMessage) -> UUID | Hold:
    """The one patient holding the PID-3 identifiers."""
    found = patients_by_v2_identifiers(
        tenant_id=tenant_id, identifiers=[(p.authority, p.value) for p in message.patient_identifiers]
    )
    holders = sorted(set(found.values()), key=str)
    if not holders:
        authorities = sorted({p.authority or "(none)" for p in message.patient_identifiers})
        return Hold(
            HoldReason.PATIENT_UNKNOWN,
            "No patient of this clinic holds the PID-3 identifiers (assigning authorities: "
            + ", ".join(authorities)
            + ").",
        )
    if len(holders) > 1:
        return Hold(
            HoldReason.PATIENT_AMBIGUOUS,
            f"The PID-3 identifiers belong to {len(holders)} different patients: "
            + ", ".join(str(h) for h in holders)
            + ".",
        )
    return holders[0]


def _target_of(
    tenant_id: int,
    report: ReportInput,
    patient_id: UUID,
    *,
    visit: EncounterRef | None,
    chosen_order: OrderRecord | None,
    unsolicited: UnsolicitedResults,
) -> Target | Hold:
    """The order the OBR names (else the admin's choice), else the visit of the message; else,
    when unsolicited results are charted, the patient alone."""
    numbered = bool(report.placer_number or report.filler_number)
    order = None
    if numbered:
        order = find_order(tenant_id=tenant_id, placer_number=report.placer_number, filler_number=report.filler_number)
    order = order or chosen_order
    if order is not None:
        return _order_target(tenant_id, report, order, patient_id)
    charted_anyway = unsolicited == UnsolicitedResults.CHART
    if numbered:
        if charted_anyway:
            return _unsolicited_target(tenant_id, visit, patient_id)
        return Hold(
            HoldReason.ORDER_UNKNOWN,
            f"No order with placer number {report.placer_number!r} or filler number "
            f"{report.filler_number!r} (OBR {report.set_id}).",
        )
    target = _visit_target(tenant_id, report, visit, patient_id)
    if charted_anyway and isinstance(target, Hold) and target.reason == HoldReason.NO_ORDER_OR_VISIT:
        return _unsolicited_target(tenant_id, None, patient_id)
    return target


def _unsolicited_target(tenant_id: int, visit: EncounterRef | None, patient_id: UUID) -> Target | Hold:
    """A result without its order, charted to the patient: to the visit PV1-19 names when it is
    this patient's, else to no encounter. A visit of another patient is a mismatch, held."""
    if visit is None:
        return Target(order=None, encounter_id=None, visit_number="", unsolicited=True)
    if not _same_patient(tenant_id, visit.patient_id, patient_id):
        return Hold(HoldReason.PATIENT_MISMATCH, f"Visit {visit.visit_number} belongs to another patient.")
    return Target(order=None, encounter_id=visit.id, visit_number=visit.visit_number, unsolicited=True)


def _order_target(tenant_id: int, report: ReportInput, order: OrderRecord, patient_id: UUID) -> Target | Hold:
    if not _same_patient(tenant_id, order.patient_id, patient_id):
        return Hold(
            HoldReason.PATIENT_MISMATCH,
            f"Order {order.placer_number} belongs to another patient than PID-3 names (OBR {report.set_id}).",
        )
    return Target(order=order, encounter_id=order.encounter_id, visit_number="")


def _visit_target(tenant_id: int, report: ReportInput, visit: EncounterRef | None, patient_id: UUID) -> Target | Hold:
    if visit is None:
        return Hold(
            HoldReason.NO_ORDER_OR_VISIT,
            f"OBR {report.set_id} names no order (OBR-2/OBR-3) and PV1-19 names no visit of this clinic.",
        )
    if not _same_patient(tenant_id, visit.patient_id, patient_id):
        return Hold(HoldReason.PATIENT_MISMATCH, f"Visit {visit.visit_number} belongs to another patient.")
    return Target(order=None, encounter_id=visit.id, visit_number=visit.visit_number)


def _same_patient(tenant_id: int, holder_id: UUID, patient_id: UUID) -> bool:
    """The same patient, or two records merged into one."""
    if holder_id == patient_id:
        return True
    return resolve_patient_id(tenant_id=tenant_id, patient_id=holder_id) == resolve_patient_id(
        tenant_id=tenant_id, patient_id=patient_id
    )
