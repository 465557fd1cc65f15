"""The FHIR API conforms: every resource it emits, of every type it serves, validates against the
FHIR structures (the fhir.resources R4B models, plus the rules they leave out: no empty values,
required code bindings); every reference between emitted resources resolves in the same
tenant; and a real FHIR client (fhirpy) drives it over HTTP, following every next link.

The clinic behind it is built only through the apps' services and the HL7 v2 intake, from the
real samples in tests/interop/samples: ADT A01/A08/A40 (a patient with identifiers, telecom and
addresses, updated; a merged pair), LAB-ORU-1 then LAB-ORU-2 (preliminary → final: versions),
the NIST LRI CBC and the HL7 glucose example; a booked, a checked-in and a cancelled
appointment, orders placed and one cancelled (its charge reversed), and concept map versions.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.db import transaction
from fhir.resources.R4B import get_fhir_model_class
from fhirpy import SyncFHIRClient
from pydantic import BaseModel

from encounters import services as encounters
from encounters.contracts import EncounterStatus
from identity.contracts import Demographics, Gender, HumanName, IdentifierInput
from identity.facade import register_patient
from interop import services as interop
from interop.fhir import registry
from interop.v2.intake import receive
from orders import services as orders
from orders.contracts import Priority
from results.models import Observation
from terminology import services as terminology
from terminology.contracts import CATALOGUE_TO_LOINC_MAP, LOINC, catalogue_system
from tests.clinic.factories import api_token
from tests.interop.fhir_support import Fhir, charted_visit, entries, fhir_client
from tests.support.hl7 import LabVisit, add_lab_identifier_system, sample, sample_patient_with_order
from tests.support.terminology import csv_bytes
from tests.support.visit import make_clinic

SERVED = {
    "Appointment",
    "ChargeItem",
    "ConceptMap",
    "DiagnosticReport",
    "Encounter",
    "Location",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "ServiceRequest",
    "Specimen",
}
GHH_MRN = "urn:ghh:mrn"  # PID-3 ...^test1&2.16.1&HCD^MR of the ADT A01/A08 samples
BCBS = "urn:bcbs:member"  # PID-3 / MRG-1 ...^^^BCBS^MR of the ADT A40 samples


# --- The clinic -------------------------------------------------------------------------------


@dataclass
class World:
    visit: LabVisit
    survivor: Any  # the A40's PID patient
    merged: Any  # the A40's MRG patient, merged into the survivor

    @property
    def tenant(self) -> Any:
        return self.visit.clinic.tenant


def deliver(name: str, raw: bytes | None = None) -> None:
    receipt = receive(raw=raw or sample(name), transport="mllp", peer="test")
    assert receipt.code == "AA", (name, receipt.ack)


def register_member(tenant_id: int, value: str, family: str, given: str) -> Any:
    with transaction.atomic():
        return register_patient(
            tenant_id=tenant_id,
            identifiers=[IdentifierInput(system=BCBS, value=value)],
            demographics=Demographics(name=HumanName(family=family, given=(given,)), gender=Gender.FEMALE),
            confirm_new=True,
            actor="test",
        ).patient


def build_world() -> World:
    """One clinic holding every kind of record the API serves (see the module docstring)."""
    visit = charted_visit()  # Donald Duck: FBC + DIFF, LAB-ORU-1 (preliminary) then LAB-ORU-2 (final)
    tenant_id, clinic = visit.tenant_id, visit.clinic
    # More results, of other value types: the NIST CBC (NM, CWE in SNOMED CT, TX; flags, specimen)
    # and the HL7 glucose example (SN, a local code), each for its own patient and order.
    sample_patient_with_order(
        tenant_id,
        facility="NIST Lab Facility",
        authority="NIST MPI",
        mrn="PATID1234",
        placer="ORD666555",
        family="Jones",
    )
    deliver("msfc_LRI_2.0-NG_CBC_Typ_Message.hl7")
    sample_patient_with_order(
        tenant_id, facility="ELAB-3", authority="", mrn="555-44-4444", placer="845439", family="Everywoman"
    )
    deliver("msfc_ORU-R01-RMGEAD.hl7")
    # ADT: the kitchen-sink A01 (identifiers, names, telecom, addresses), then an A08 moving them
    # (a second version); an A40 merging one member into another.
    interop.create_lab_partner(tenant_id=tenant_id, name="GHH", facility="GHHSFacility", application="ADTApp")
    interop.create_lab_partner(tenant_id=tenant_id, name="Ntierprise", facility="Ntierprise Clinic")
    add_lab_identifier_system(tenant_id, authority="test1", uri=GHH_MRN)
    add_lab_identifier_system(tenant_id, authority="BCBS", uri=BCBS)
    deliver("msfc_ADT-A01-01.hl7")
    deliver(
        "msfc_ADT-A08-01.hl7",
        sample("msfc_ADT-A08-01.hl7").replace(
            b"1000&Hospital Lane^Ste. 123^Ann Arbor ^MI^99999", b"12 New Street^^Ypsilanti^MI^48197"
        ),
    )
    survivor = register_member(tenant_id, "12345", "Test", "Test")
    merged = register_member(tenant_id, "56789", "Tester", "Tess")
    deliver("msfc_ADT-A40-01.hl7")
    # Appointments: one checked in (an encounter with its practitioner and appointment, orders,
    # one cancelled so its charge is reversed, then finished), one cancelled, one still booked.
    slots = clinic.slots()
    seen, _ = encounters.book(
        tenant_id=tenant_id, slot_id=slots[0].pk, patient_id=survivor.id, reason="Annual review", actor="t"
    )
    cancelled, _ = encounters.book(tenant_id=tenant_id, slot_id=slots[1].pk, patient_id=survivor.id, actor="t")
    encounters.book(tenant_id=tenant_id, slot_id=slots[2].pk, patient_id=visit.patient_id, actor="t")
    encounters.cancel_appointment(tenant_id=tenant_id, appointment_id=cancelled.pk, actor="t")
    encounter, _ = encounters.check_in(tenant_id=tenant_id, appointment_id=seen.pk, actor="t")
    encounters.move_encounter(tenant_id=tenant_id, encounter_id=encounter.pk, to=EncounterStatus.IN_PROGRESS, actor="t")
    placed, _ = orders.place_orders(
        tenant_id=tenant_id,
        encounter_id=encounter.pk,
        codes=["GLU", "CRP", "TSH"],
        priority=Priority.URGENT,
        specimen_note="Fasting since midnight",
        actor="t",
    )
    orders.cancel_order(tenant_id=tenant_id, order_id=placed[2].pk, actor="t")
    encounters.move_encounter(tenant_id=tenant_id, encounter_id=encounter.pk, to=EncounterStatus.FINISHED, actor="t")
    # Concept maps: the demo catalogue's maps (seeded by lab_visit), and a second version of the
    # LOINC map with dated and non-equivalent entries.
    catalogue = catalogue_system(clinic.tenant.slug)
    terminology.load_concept_map(
        data=csv_bytes(
            {
                "source_system": catalogue,
                "source_code": "FBC",
                "source_display": "Full blood count",
                "target_system": LOINC,
                "target_code": "58410-2",
                "target_display": "CBC panel - Blood by Automated count",
                "equivalence": "equivalent",
                "valid_from": "2024-01-01",
            },
            {
                "source_system": catalogue,
                "source_code": "FBC",
                "target_system": LOINC,
                "target_code": "24317-0",
                "equivalence": "wider",
                "valid_to": "2024-01-01",
                "comment": "The panel before the LOINC update",
            },
            {
                "source_system": catalogue,
                "source_code": "GLU",
                "target_system": LOINC,
                "target_code": "2345-7",
                "equivalence": "narrower",
            },
        ),
        map_name=CATALOGUE_TO_LOINC_MAP,
        version="demo-2",
        tenant_id=tenant_id,
    )
    return World(visit=visit, survivor=survivor, merged=merged)


# --- Conformance --------------------------------------------------------------------------------


def _empty(value: Any, path: str) -> Iterator[str]:
    """ele-1 and the JSON rules (http://hl7.org/fhir/R4/json.html): no null, no empty string,
    array or object anywhere."""
    if value is None or value in ("", [], {}):
        yield f"{path} is empty ({value!r})"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _empty(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _empty(item, f"{path}[{index}]")


def _unbound(model: BaseModel, path: str) -> Iterator[str]:
    """Codes outside their element's value set, where the model lists all of it: a code element
    whose short description starts with exactly its codes (``home | work | temp | old | mobile -
    purpose of this contact point``: a required binding). The models take these lists from the
    descriptions, so the others ('final +', a partial list; 'formats supported (xml | json | ttl |
    mime type)') are not checked."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if value is None:
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        listed = extra.get("enum_values")
        codes = [str(code) for code in listed] if isinstance(listed, list) else []
        head = re.split(r" - | \(", info.title or "")[0].strip()
        allowed = codes if codes and head == " | ".join(codes) else None
        values = value if isinstance(value, list) else [value]
        for index, item in enumerate(values):
            where = f"{path}.{info.alias or name}" + (f"[{index}]" if isinstance(value, list) else "")
            if isinstance(item, BaseModel):
                yield from _unbound(item, where)
            elif allowed is not None and isinstance(item, str) and item not in allowed:
                yield f"{where} = {item!r} is not one of {allowed}"


def _bundle_rules(bundle: dict[str, Any], where: str) -> Iterator[str]:
    """The Bundle invariants the models do not check (http://hl7.org/fhir/R4/bundle.html#invs)."""
    kind = bundle["type"]
    if "total" in bundle and kind not in ("searchset", "history"):
        yield f"{where}: bdl-1, total in a {kind} bundle"
    keys = []
    for index, entry in enumerate(bundle.get("entry", [])):
        at = f"{where}.entry[{index}]"
        if "search" in entry and kind != "searchset":
            yield f"{at}: bdl-2, entry.search in a {kind} bundle"
        if ("request" in entry) != (kind in ("batch", "transaction", "history")):
            yield f"{at}: bdl-3, entry.request present or missing in a {kind} bundle"
        if ("response" in entry) != (kind in ("batch-response", "transaction-response", "history")):
            yield f"{at}: bdl-4, entry.response present or missing in a {kind} bundle"
        if "/_history/" in entry.get("fullUrl", ""):
            yield f"{at}: bdl-8, a version-specific fullUrl"
        if "fullUrl" in entry:
            keys.append((entry["fullUrl"], entry.get("resource", {}).get("meta", {}).get("versionId")))
    if kind != "history" and len(keys) != len(set(keys)):
        yield f"{where}: bdl-7, the same fullUrl (and version) twice"


def conformance_problems(resource: dict[str, Any]) -> list[str]:
    """What is wrong with one emitted resource (a Bundle with the resources in it): the
    fhir.resources R4B model's validation errors, empty values, codes outside required bindings,
    broken Bundle invariants."""
    try:
        model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValueError as exc:  # pydantic's ValidationError, or a type the models do not know
        return [f"{resource['resourceType']}/{resource.get('id')}: {exc}"]
    where = f"{resource['resourceType']}/{resource.get('id')}"
    problems = [*_empty(resource, where), *_unbound(model, where)]
    if resource["resourceType"] == "Bundle":
        problems += _bundle_rules(resource, where)
    return problems


def contained(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The resource and, in a Bundle, every resource of its entries."""
    yield body
    for entry in body.get("entry", []):
        if "resource" in entry:
            yield from contained(entry["resource"])


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


# --- Crawling the API ---------------------------------------------------------------------------


@dataclass
class Crawl:
    """Every answer of the API to a crawl of everything it serves, with the path asked."""

    fhir: Fhir
    answers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def get(self, path: str, status: int = 200, **headers: str) -> dict[str, Any]:
        body = self.fhir.json(path, status, **headers)
        self.answers.append((path, body))
        return body

    def keep(self, path: str, response: Any, status: int) -> dict[str, Any]:
        assert response.status_code == status, (path, response.status_code, response.content[:1000])
        body: dict[str, Any] = response.json()
        self.answers.append((path, body))
        return body

    def pages(self, path: str, count: int) -> list[tuple[str, str, str]]:
        """Every page of a search or operation asked with ``_count=count``, following the next
        links as given: no page holds more than ``count`` matches (includes and outcomes do not
        count: http://hl7.org/fhir/R4/search.html#count), no match is on two pages. Answers
        (mode, type, id) of every entry but outcomes, in order."""
        found: list[tuple[str, str, str]] = []
        path = f"{path}{'&' if '?' in path else '?'}_count={count}"
        while True:
            bundle = self.get(path)
            page = [
                (
                    entry.get("search", {}).get("mode", "match"),
                    entry["resource"]["resourceType"],
                    entry["resource"]["id"],
                )
                for entry in bundle.get("entry", [])
            ]
            matches = [key for key in page if key[0] == "match"]
            assert len(matches) <= count, f"{path}: {len(matches)} matches on a page of {count}"
            assert not set(matches) & set(found), f"{path}: {set(matches) & set(found)} already on an earlier page"
            found += [key for key in page if key[0] != "outcome"]
            following = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
            if not following:
                return found
            assert page, f"{path}: an empty page with a next link"
            path = following[0].split("/fhir/", 1)[1]

    def resources(self) -> Iterator[dict[str, Any]]:
        for _, body in self.answers:
            yield from contained(body)


def crawl(world: World) -> Crawl:
    """Ask the API everything: the CapabilityStatement; for every type, every resource paged,
    read, vread and history; every _include and _revinclude the CapabilityStatement names;
    _elements, _summary=count and POST _search; $everything of every patient and encounter,
    paged; and errors."""
    c = Crawl(fhir_client(world.tenant))
    statement = c.get("metadata")
    served = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(served) == SERVED == {t.name for t in registry.all_types()}
    for name, entry in sorted(served.items()):
        interactions = {i["code"] for i in entry["interaction"]}
        whole = entries(c.get(f"{name}?_count=1000"))
        assert c.pages(name, 4) == [("match", name, r["id"]) for r in whole], f"paging {name} lost or repeated rows"
        for resource in whole:
            path = f"{name}/{resource['id']}"
            read = c.get(path)
            assert read == resource, f"{path}: the read differs from the search entry"
            if "vread" in interactions:
                assert c.get(f"{path}/_history/{read['meta']['versionId']}") == read
            if "history-instance" in interactions:
                history = c.get(f"{path}/_history")
                assert history["entry"][0]["resource"] == read
                for version in history["entry"]:
                    vid = version["resource"]["meta"]["versionId"]
                    assert c.get(f"{path}/_history/{vid}") == version["resource"]
        for param, include in [("_include", i) for i in entry.get("searchInclude", [])] + [
            ("_revinclude", i) for i in entry.get("searchRevInclude", [])
        ]:
            paged = c.pages(f"{name}?{param}={include}", 4)
            assert set(paged) == set(c.pages(f"{name}?{param}={include}", 1000)), f"{param}={include} paged"
            assert {m for m, _, _ in paged} == {"match", "include"}, f"{name}?{param}={include} included nothing"
        c.get(f"{name}?_summary=count")
        c.get(f"{name}?_elements=meta&_count=3")
        posted = c.fhir.post(f"{name}/_search", "_count=3", content_type="application/x-www-form-urlencoded")
        assert entries(c.keep(f"POST {name}/_search", posted, 200)) == whole[:3]
    for patient in entries(c.get("Patient?active=true&_count=1000")):
        path = f"Patient/{patient['id']}/$everything"
        assert c.pages(path, 3) == c.pages(path, 1000), f"paging {path}"
    for encounter in entries(c.get("Encounter?_count=1000")):
        path = f"Encounter/{encounter['id']}/$everything"
        assert c.pages(path, 3) == c.pages(path, 1000), f"paging {path}"
    _errors(c, world)
    return c


def _errors(c: Crawl, world: World) -> None:
    """The errors, each an OperationOutcome: 401, 403, 404, 400, 405, 406, 422; and a Bundle
    carrying a warning (an _include this client may not read)."""
    unknown = uuid.uuid4()
    c.get(f"Patient/{unknown}", 404)
    c.get("Patient/not-an-id", 404)
    c.get("Medication?_count=1", 404)
    c.get(f"Observation/{unknown}/_history/1", 404)
    c.get(f"Patient/{world.survivor.id}/_history/999", 404)
    c.get("Observation?_count=many", 400)
    c.get("Observation?_sort=colour", 400)
    c.get("Patient?gender=sometimes", 400)
    c.get("Observation?_cursor=not-a-cursor", 400)
    c.get("Encounter?_include=Encounter:nothing", 400)
    c.get("Observation?colour=blue", 400, Prefer="handling=strict")
    c.get(f"Patient/{world.merged.id}/$everything", 422)
    c.get("Patient?_format=xml", 406)
    c.keep("POST Patient", c.fhir.post("Patient", {"resourceType": "Patient"}), 405)
    c.keep("PUT Patient", c.fhir.method("PUT", f"Patient/{world.survivor.id}", "{}"), 405)
    c.keep("DELETE Patient", c.fhir.method("DELETE", f"Patient/{world.survivor.id}"), 405)
    c.keep("POST /", c.fhir.post("", {"resourceType": "Bundle", "type": "transaction"}), 405)
    c.keep("no token", c.fhir.client.get("/fhir/Patient"), 401)
    narrow = fhir_client(world.tenant, ["system/Observation.read"])
    c.keep("403", narrow.get("Patient"), 403)
    warned = c.keep("warning", narrow.get("Observation?_include=Observation:patient&_count=2"), 200)
    assert entries(warned, "outcome"), "the left-out _include is not reported"


# --- The tests ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_resource_the_api_emits_validates_against_the_fhir_structures():
    world = build_world()

    answers = crawl(world)

    # A Bundle's model validates the resources of its entries, each by its own type's model.
    problems = [f"{path}: {problem}" for path, body in answers.answers for problem in conformance_problems(body)]
    assert not problems, "\n".join(dict.fromkeys(problems))
    seen = {r["resourceType"] for r in answers.resources()}
    assert seen >= SERVED | {"Bundle", "CapabilityStatement", "OperationOutcome"}, SERVED - seen
    bundles = {b["type"] for _, b in answers.answers if b["resourceType"] == "Bundle"}
    assert bundles == {"searchset", "history"}
    # The data was as varied as the module docstring says: every status each source gives, each
    # kind of result value, both ends of a merge.
    statuses = {
        (r["resourceType"], r["status"])
        for r in answers.resources()
        if r["resourceType"] in SERVED - {"Location", "ConceptMap"} and "status" in r
    }
    assert statuses == {
        *(("Appointment", s) for s in ("booked", "checked-in", "cancelled")),
        *(("ChargeItem", s) for s in ("billed", "aborted")),
        *(("DiagnosticReport", s) for s in ("preliminary", "final")),
        *(("Encounter", s) for s in ("arrived", "in-progress", "finished")),
        *(("Observation", s) for s in ("registered", "preliminary", "final")),
        *(("ServiceRequest", s) for s in ("active", "completed", "revoked")),
    }
    observations = [r for r in answers.resources() if r["resourceType"] == "Observation"]
    values = {k for o in observations for k in o if k.startswith("value") or k == "dataAbsentReason"}
    assert values == {"valueQuantity", "valueCodeableConcept", "valueString", "dataAbsentReason"}
    links = {link["type"] for r in answers.resources() if r["resourceType"] == "Patient" for link in r.get("link", [])}
    assert links == {"replaced-by", "replaces"}


@pytest.mark.django_db
def test_every_reference_between_emitted_resources_resolves_in_the_same_tenant():
    world = build_world()
    answers = crawl(world)
    base = "http://testserver/fhir"

    # "#id" references point inside their resource (a contained Organization: the lab that
    # performed a test); the rest must resolve through the API.
    found = {ref for resource in answers.resources() for ref in references(resource) if not ref.startswith("#")}
    for resource in (r for r in answers.resources() if r["resourceType"] != "Bundle"):
        inside = {f"#{c['id']}" for c in resource.get("contained", [])}
        assert {r for r in references(resource) if r.startswith("#")} <= inside, resource["id"]
    full_urls = {
        entry["fullUrl"] for _, body in answers.answers for entry in body.get("entry", []) if "fullUrl" in entry
    }

    # What is referred to: everything but ChargeItem, ConceptMap and DiagnosticReport (nothing
    # served points at those).
    assert {ref.split("/")[0] for ref in found} == SERVED - {"ChargeItem", "ConceptMap", "DiagnosticReport"}
    for ref in sorted(found):
        type_name, _, resource_id = ref.partition("/")
        assert type_name in SERVED and resource_id and "/" not in resource_id, ref
        resolved = answers.fhir.json(ref)
        assert (resolved["resourceType"], resolved["id"]) == (type_name, resource_id), ref
    for url in sorted(full_urls):
        assert url.startswith(f"{base}/"), url
        resolved = answers.fhir.json(url.removeprefix(f"{base}/"))
        assert urlsplit(url).path.endswith(f"/{resolved['resourceType']}/{resolved['id']}"), url


# --- A real FHIR client -----------------------------------------------------------------------


def _following(client: SyncFHIRClient, bundle: Any) -> Iterator[Any]:
    """The bundle and every page after it, by its next links as given."""
    while True:
        yield bundle
        following = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
        if not following:
            return
        bundle = client.execute(following[0], method="get")


@pytest.mark.django_db(transaction=True)
def test_fhirpy_reads_searches_and_pages_through_results_and_everything(front_url):
    visit = charted_visit()
    token = api_token(visit.clinic.tenant, name="fhirpy", scopes=["system/*.read"])
    client = SyncFHIRClient(url=f"{front_url}/fhir", authorization=f"Bearer {token}")
    patient_id = str(visit.patient_id)
    charted = {str(pk) for pk in Observation.objects.filter(patient_id=visit.patient_id).values_list("pk", flat=True)}
    assert len(charted) > 6  # enough for three pages of three

    patient = client.reference("Patient", patient_id).to_resource()
    fetched = client.resources("Observation").search(patient=patient_id).limit(3).fetch_all()
    pages = list(_following(client, client.resources("Observation").search(patient=patient_id).limit(3).fetch_raw()))
    everything = list(
        _following(
            client, client.resource("Patient", id=patient_id).execute("$everything", method="get", params={"_count": 3})
        )
    )

    assert patient["resourceType"] == "Patient" and patient["id"] == patient_id
    assert patient["name"][0]["family"] == "Duck"
    assert not conformance_problems(patient.serialize())
    fetched_ids = [o["id"] for o in fetched]
    assert len(fetched_ids) == len(set(fetched_ids)) and set(fetched_ids) == charted
    assert len(pages) == -(-len(charted) // 3)
    paged_ids = [e["resource"]["id"] for page in pages for e in page.get("entry", [])]
    assert len(paged_ids) == len(set(paged_ids)) and set(paged_ids) == charted
    assert len(everything) > 1
    got = [(e["resource"]["resourceType"], e["resource"]["id"]) for page in everything for e in page.get("entry", [])]
    assert len(got) == len(set(got)), "a resource twice in $everything"
    expected = {("Patient", patient_id), ("Organization", str(visit.tenant_id))}
    for name in (
        "Encounter",
        "Appointment",
        "ServiceRequest",
        "DiagnosticReport",
        "Specimen",
        "Observation",
        "ChargeItem",
    ):
        expected |= {(name, r["id"]) for r in client.resources(name).search(patient=patient_id).limit(100).fetch_all()}
    assert set(got) == expected
    assert {"Encounter", "ServiceRequest", "DiagnosticReport", "Observation", "ChargeItem"} <= {t for t, _ in got}
    for page in [*pages, *everything]:
        assert len(page.get("entry", [])) <= 3
        assert not conformance_problems(page)


@pytest.mark.django_db
def test_synthea_records_loaded_by_the_loader_come_out_as_valid_fhir():
    """The Synthea bundles, loaded through load_synthea, read back through the API (each
    patient's $everything, paged, and a search of every type) as valid R4 with every
    reference resolving, and with the values Synthea gave."""
    clinic = make_clinic(days=1, slug="synth")
    samples = Path(__file__).parent / "samples" / "synthea"
    call_command("load_synthea", "--tenant", clinic.tenant.slug, str(samples), stdout=StringIO())
    fhir = fhir_client(clinic.tenant)
    c = Crawl(fhir)
    patients = entries(c.get("Patient?_count=100"))
    assert len(patients) == 2
    for patient in patients:
        found = c.pages(f"Patient/{patient['id']}/$everything", 7)
        types = {t for _, t, _ in found}
        assert {"Patient", "Encounter", "DiagnosticReport", "Observation"} <= types
    for t in ("Encounter", "DiagnosticReport", "Observation"):
        c.pages(t, 25)

    problems = [p for resource in c.resources() for p in conformance_problems(resource)]
    assert problems == []
    emitted = {f"{r['resourceType']}/{r['id']}" for r in c.resources() if "id" in r}
    for reference in sorted({ref for r in c.resources() for ref in references(r)}):
        if reference not in emitted:
            assert fhir.get(reference).status_code == 200, reference
    hemoglobin = entries(c.get("Observation?code=http://loinc.org|718-7&_count=100"))
    assert hemoglobin and all(o["valueQuantity"]["unit"] == "g/dL" for o in hemoglobin)
