"""HL7 v2 intake in tests (of interop, results and flows): the partner samples
(tests/interop/samples, see SOURCES.md there), a clinic wired to receive them, and an MLLP
client."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from billing.demo import seed as seed_demo_fees
from clinic.models import Site
from encounters import services as encounters
from encounters.contracts import EncounterStatus
from encounters.models import Encounter
from identity.contracts import Demographics, Gender, HumanName, IdentifierInput
from identity.facade import register_patient
from identity.models import IdentifierSystem
from interop import services as interop
from interop.models import LabPartner
from orders import services as orders
from orders.models import ServiceRequest
from terminology.demo import seed_in_transaction as seed_demo_catalogue
from tests.support.visit import Clinic, make_clinic

SAMPLES = Path(__file__).resolve().parents[1] / "interop" / "samples"

LAB_MRN = "urn:lab:somesystem:mrn"  # the identifier system of PID-3 ...^^^1^MR in the FHIR-Converter samples


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def er7(text: str) -> bytes:
    """A message written in a test with \\n between segments, sent with CR as HL7 wants."""
    return "\r".join(line for line in text.strip().splitlines()).encode() + b"\r"


@dataclass
class LabVisit:
    """A clinic, its lab partner 'SomeSystem' (MSH-3 of the samples), Donald Duck registered
    with the lab's MRN 10006579 (authority '1'), in an encounter in progress with the two
    orders LAB-ORU-1/2 answer (placer numbers 88502218 and 855238581)."""

    clinic: Clinic
    partner: LabPartner
    # None when lab_visit(register=False / order=False) left them out; Any so tests need no asserts.
    patient_id: Any
    encounter: Any
    cbc: Any
    diff: Any

    @property
    def tenant_id(self) -> int:
        return self.clinic.tenant.pk


def add_lab_identifier_system(tenant_id: int, authority: str = "1", uri: str = LAB_MRN) -> IdentifierSystem:
    return IdentifierSystem.objects.create(
        tenant_id=tenant_id, uri=uri, name=f"Lab {authority} MRN", assigning_authority=authority, validator="none"
    )


def register_duck(tenant_id: int, value: str = "10006579"):
    with transaction.atomic():
        return register_patient(
            tenant_id=tenant_id,
            identifiers=[IdentifierInput(system=LAB_MRN, value=value)],
            demographics=Demographics(
                name=HumanName(family="Duck", given=("Donald",)), birth_date=None, gender=Gender.MALE
            ),
            confirm_new=True,
            actor="test",
        ).patient


def lab_visit(*, slug: str | None = None, register: bool = True, order: bool = True) -> LabVisit:
    clinic = make_clinic(days=1, slug=slug)
    seed_demo_catalogue(tenant_id=clinic.tenant.pk)
    seed_demo_fees(tenant_id=clinic.tenant.pk)
    partner = interop.create_lab_partner(tenant_id=clinic.tenant.pk, name="Some lab", facility="SomeSystem")
    add_lab_identifier_system(clinic.tenant.pk)
    patient = register_duck(clinic.tenant.pk) if register else None
    encounter = cbc = diff = None
    if patient is not None:
        encounter = encounters.open_walk_in(
            tenant_id=clinic.tenant.pk, patient_id=patient.id, site_id=clinic.site.pk, actor="t"
        )
        encounter = encounters.move_encounter(
            tenant_id=clinic.tenant.pk, encounter_id=encounter.pk, to=EncounterStatus.IN_PROGRESS, actor="t"
        )
        if order:
            cbc, diff = place_sample_orders(clinic.tenant.pk, encounter.pk)
    return LabVisit(
        clinic=clinic,
        partner=partner,
        patient_id=patient.id if patient else None,
        encounter=encounter,
        cbc=cbc,
        diff=diff,
    )


def place_sample_orders(tenant_id: int, encounter_id) -> tuple[ServiceRequest, ServiceRequest]:
    """FBC and differential, renumbered to the placer numbers of the samples (our own numbers
    are ORD…; the samples come from another system)."""
    placed, _ = orders.place_orders(tenant_id=tenant_id, encounter_id=encounter_id, codes=["FBC", "DIFF"], actor="t")
    cbc, diff = placed
    ServiceRequest.objects.filter(pk=cbc.pk).update(placer_number="88502218")
    ServiceRequest.objects.filter(pk=diff.pk).update(placer_number="855238581")
    cbc.refresh_from_db()
    diff.refresh_from_db()
    return cbc, diff


class MLLPClient:
    """A persistent MLLP connection: send a frame (or raw bytes), read one ACK."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 20.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: bytes) -> str:
        self.sock.sendall(b"\x0b" + message + b"\x1c\r")
        return self.read_ack()

    def read_ack(self) -> str:
        while b"\x1c" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection")
            self.buffer += chunk
        end = self.buffer.index(b"\x1c")
        frame = self.buffer[:end]
        self.buffer = self.buffer[end + 1 :].lstrip(b"\r")
        assert frame.startswith(b"\x0b"), frame[:20]
        return frame[1:].decode()

    def close(self) -> None:
        self.sock.close()


def ack_fields(ack: str) -> dict[str, list[str]]:
    """Segment ID → fields of the first such segment (MSA, ERR, ...); all ERR under 'ERR*'."""
    out: dict[str, list[str]] = {}
    errs = []
    for seg in ack.strip("\r").split("\r"):
        fields = seg.split("|")
        out.setdefault(fields[0], fields)
        if fields[0] == "ERR":
            errs.append(fields)
    out["ERR*"] = errs  # type: ignore[assignment]
    return out


def sample_patient_with_order(
    tenant_id: int, *, facility: str, authority: str, mrn: str, placer: str, family: str
) -> tuple[Any, Encounter]:
    """For a sample from another lab: register that lab (MSH-4 ``facility``), its identifier
    system (CX-4 ``authority``), the patient with ``mrn``, and an order with the sample's
    ``placer`` number in a visit of that patient."""
    interop.create_lab_partner(tenant_id=tenant_id, name=f"{facility} lab", facility=facility)
    uri = f"urn:lab:{authority or 'none'}:mrn"
    add_lab_identifier_system(tenant_id, authority=authority, uri=uri)
    with transaction.atomic():
        patient = register_patient(
            tenant_id=tenant_id,
            identifiers=[IdentifierInput(system=uri, value=mrn)],
            demographics=Demographics(name=HumanName(family=family, given=("Test",))),
            confirm_new=True,
            actor="test",
        ).patient
    site = Site.objects.filter(tenant_id=tenant_id).first()
    assert site is not None
    encounter = encounters.open_walk_in(tenant_id=tenant_id, patient_id=patient.id, site_id=site.pk, actor="t")
    placed, _ = orders.place_orders(tenant_id=tenant_id, encounter_id=encounter.pk, codes=["FBC"], actor="t")
    ServiceRequest.objects.filter(pk=placed[0].pk).update(placer_number=placer)
    return patient, encounter
