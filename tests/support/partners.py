"""The reference clinic the golden projections are made in (tests/interop/test_golden_projections.py
and ``docs/partners/``): the clinic 'riverside', with every lab partner, identifier system,
patient and order that the sample messages of the repository refer to, so that each sample
shows what it does to a clinic that expects it.

- The three partner shapes of docs/partners/: St Elsewhere Pathology (a hospital lab over MLLP,
  Latin-1), Northgate Reference Laboratory (a reference lab over HTTP that charts unsolicited
  results and takes OML^O21), Riverside PAS (an ADT feed); Ada Smith (MRN M000000123, NHS
  9434765919) in a visit with Dr Who, with the orders ORD00000101 (FBC) and ORD00000102 (TSH);
  Eve Everywomen (PAS P7002), a duplicate record the PAS merges.
- The senders of tests/interop/samples and docs/examples: the FHIR-Converter lab (SomeSystem:
  Donald Duck, orders 88502218 and 855238581), NIST, GHH (lab and ADT), Ntierprise, Mirth,
  Redox, the Iowa public health lab and the demo lab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from billing.demo import seed as seed_demo_fees
from encounters import services as encounters
from encounters.contracts import EncounterStatus
from identity.contracts import Demographics, Gender, HumanName, IdentifierInput
from identity.facade import register_patient
from interop import services as interop
from orders import services as orders
from orders.models import ServiceRequest
from terminology.demo import seed_in_transaction as seed_demo_catalogue
from tests.support.hl7 import LAB_MRN, add_lab_identifier_system, register_duck, sample_patient_with_order
from tests.support.identity import register
from tests.support.visit import Clinic, make_clinic

SLUG = "riverside"
PAS = "urn:riverside:pas"
BCBS = "urn:bcbs:member"
GHH_MRN = "urn:ghh:mrn"


@dataclass
class ReferenceClinic:
    clinic: Clinic
    ada: Any
    duck: Any

    @property
    def tenant_id(self) -> int:
        return self.clinic.tenant.pk


def _person(tenant_id: int, system: str, value: str, family: str, given: str, **more: Any) -> Any:
    with transaction.atomic():
        return register_patient(
            tenant_id=tenant_id,
            identifiers=[IdentifierInput(system=system, value=value)],
            demographics=Demographics(name=HumanName(family=family, given=(given,)), **more),
            confirm_new=True,
            actor="test",
        ).patient


def _visit_with_orders(clinic: Clinic, patient_id: Any, placed: dict[str, str]) -> Any:
    """An encounter of the patient with Dr Who, in progress, with orders renumbered as given
    (catalogue code → placer number: our own numbers come from a sequence)."""
    tenant_id = clinic.tenant.pk
    encounter = encounters.open_walk_in(
        tenant_id=tenant_id, patient_id=patient_id, site_id=clinic.site.pk, practitioner_id=clinic.doctor.pk, actor="t"
    )
    encounters.move_encounter(tenant_id=tenant_id, encounter_id=encounter.pk, to=EncounterStatus.IN_PROGRESS, actor="t")
    made, _ = orders.place_orders(tenant_id=tenant_id, encounter_id=encounter.pk, codes=list(placed), actor="t")
    for order, placer in zip(made, placed.values(), strict=True):
        ServiceRequest.objects.filter(pk=order.pk).update(placer_number=placer)
    return encounter


def reference_clinic() -> ReferenceClinic:
    clinic = make_clinic(days=1, slug=SLUG)
    tenant_id = clinic.tenant.pk
    seed_demo_catalogue(tenant_id=tenant_id)
    seed_demo_fees(tenant_id=tenant_id)

    # docs/partners/hospital-lab-mllp, reference-lab-http, adt-feed
    interop.create_lab_partner(
        tenant_id=tenant_id,
        name="St Elsewhere Pathology",
        facility="STELSEWHERE-PATH",
        application="WINPATH",
        charset="8859/1",
    )
    interop.create_lab_partner(
        tenant_id=tenant_id,
        name="Northgate Reference Laboratory",
        facility="NRL",
        application="NRL-LIMS",
        unsolicited_results="chart",
        outbound_profile="oml-o21-v2.5.1-loi",
    )
    interop.create_lab_partner(tenant_id=tenant_id, name="Riverside PAS", facility="RIVERSIDE-PAS", application="PAS")
    # Registered first: the first registration gives the clinic its policy's systems (MRN, NHS).
    ada = register(clinic.tenant, nhs="9434765919", mrn="M000000123", family="Smith", given=("Ada", "May"))
    add_lab_identifier_system(tenant_id, authority="PAS", uri=PAS)
    _visit_with_orders(clinic, ada.id, {"FBC": "ORD00000101", "TSH": "ORD00000102"})
    _person(tenant_id, PAS, "P7002", "Everywomen", "Eve", gender=Gender.FEMALE)

    # tests/interop/samples (see SOURCES.md there)
    interop.create_lab_partner(tenant_id=tenant_id, name="Some lab", facility="SomeSystem")
    add_lab_identifier_system(tenant_id, authority="1", uri=LAB_MRN)
    duck = register_duck(tenant_id)
    _visit_with_orders(clinic, duck.id, {"FBC": "88502218", "DIFF": "855238581"})
    sample_patient_with_order(
        tenant_id,
        facility="NIST Lab Facility",
        authority="NIST MPI",
        mrn="PATID1234",
        placer="ORD666555",
        family="Jones",
    )
    sample_patient_with_order(
        tenant_id, facility="ELAB-3", authority="", mrn="555-44-4444", placer="845439", family="Everywoman"
    )
    interop.create_lab_partner(tenant_id=tenant_id, name="GHH", facility="GHHSFacility", application="ADTApp")
    add_lab_identifier_system(tenant_id, authority="test1", uri=GHH_MRN)
    interop.create_lab_partner(tenant_id=tenant_id, name="Ntierprise", facility="Ntierprise Clinic")
    add_lab_identifier_system(tenant_id, authority="BCBS", uri=BCBS)
    for member, family in (("12345", "Test"), ("56789", "Test"), ("145", "Tester"), ("569", "Tester")):
        _person(tenant_id, BCBS, member, family, f"Member {member}", gender=Gender.FEMALE)
    for name, facility in (
        ("Mirth", "MIRTH"),
        ("Redox", "RDX"),
        ("Iowa public health lab", "IA Public Health Lab"),
        ("Demo Lab", "DEMOLAB"),
    ):
        interop.create_lab_partner(tenant_id=tenant_id, name=name, facility=facility)
    return ReferenceClinic(clinic=clinic, ada=ada, duck=duck)
