"""Event subscriptions of results: release held results when their patient or order appears."""

from __future__ import annotations

from uuid import UUID

from clinic.contracts import Event
from clinic.facade import subscriber
from identity.contracts import PATIENT_MERGED, PATIENT_REGISTERED
from identity.facade import get_patient
from orders.contracts import ORDER_PLACED
from results import services


@subscriber("results.release_held", events_=[PATIENT_REGISTERED, PATIENT_MERGED, ORDER_PLACED])
def release_held_results(event: Event) -> None:
    """A patient registered (or an identifier moved to a survivor by a merge), or an order
    placed: chart the held results that were waiting for it."""
    if event.type == ORDER_PLACED:
        placer = event.payload.get("placer_number")
        if placer:
            services.release_held(tenant_id=event.tenant_id, placer_numbers=[placer])
        return
    patient_id = event.payload.get("target") if event.type == PATIENT_MERGED else event.payload.get("patient_id")
    if not patient_id:
        return
    patient = get_patient(tenant_id=event.tenant_id, patient_id=UUID(patient_id))
    keys = [f"{i.assigning_authority}|{i.value}" for i in patient.identifiers]
    services.release_held(tenant_id=event.tenant_id, patient_keys=keys)
