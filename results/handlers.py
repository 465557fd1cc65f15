"""Event subscriptions of results: release held results when their patient or order appears."""

from __future__ import annotations

from clinic.contracts import Event
from clinic.facade import decode_event, subscriber
from identity.contracts import PATIENT_MERGED, PATIENT_REGISTERED, PatientMerged, PatientRegistered
from identity.facade import get_patient
from orders.contracts import ORDER_PLACED, OrderPlaced
from results import services


@subscriber("results.release_held", events_=[PATIENT_REGISTERED, PATIENT_MERGED, ORDER_PLACED])
def release_held_results(event: Event) -> None:
    """A patient registered (or an identifier moved to a survivor by a merge), or an order
    placed: chart the held results that were waiting for it."""
    payload = decode_event(event)
    if isinstance(payload, OrderPlaced):
        if payload.placer_number:
            services.release_held(tenant_id=event.tenant_id, placer_numbers=[payload.placer_number])
        return
    if isinstance(payload, PatientMerged):
        patient_id = payload.target
    elif isinstance(payload, PatientRegistered):
        patient_id = payload.patient_id
    else:
        return
    patient = get_patient(tenant_id=event.tenant_id, patient_id=patient_id)
    keys = [f"{i.assigning_authority}|{i.value}" for i in patient.identifiers]
    services.release_held(tenant_id=event.tenant_id, patient_keys=keys)
