"""Contract tests of the outbound order profiles (interop/v2/profiles/, ADR 0010): for every
profile, the messages built for a range of orders are valid HL7 of the profile's version
(hl7apy, strict) and keep the profile's own rules; where an order lacks what a profile needs,
the message is refused naming the field, and only there (``REFUSED``). A profile change the
builder cannot satisfy fails here, with the field named. Then, end to end: a lab on the LOI
profile gets an OML^O21 over MLLP, and an order a lab's profile cannot take is kept, not sent."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any
from uuid import uuid4

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from clinic import payloads
from identity.contracts import Gender, HumanName, IdentifierRecord, IdentifierUse, PatientRecord
from interop.v2 import er7
from interop.v2.order_messages import OrderFacts, build_order_message
from interop.v2.order_profiles import (
    DEFAULT_PROFILE,
    PROFILE_DIR,
    OrderProfile,
    ProfileInvalid,
    ProfileUnsatisfied,
    check,
    get_profile,
    parse_profile,
    profiles,
)
from orders.contracts import OrderCancelled, OrderEvent, OrderPlaced

CLINIC = "RIVERSIDE"
SENT_AT = datetime.datetime(2026, 3, 1, 10, 15, tzinfo=datetime.UTC)


def patient(**change: Any) -> PatientRecord:
    base = PatientRecord(
        id=uuid4(),
        tenant_id=1,
        active=True,
        identifiers=(
            IdentifierRecord("urn:clinic:riverside:mrn", "M000001234", IdentifierUse.USUAL, CLINIC),
            IdentifierRecord("https://fhir.nhs.uk/Id/nhs-number", "9434765919", IdentifierUse.OFFICIAL, "NHS"),
            IdentifierRecord("urn:clinic:riverside:mrn", "M000000007", IdentifierUse.OLD, CLINIC),
        ),
        name=HumanName(family="Smith", given=("Ada", "May")),
        other_names=(),
        birth_date=datetime.date(1980, 2, 3),
        gender=Gender.FEMALE,
        telecom=(),
        address=(),
        links=(),
        version=1,
        created_at=SENT_AT,
        updated_at=SENT_AT,
    )
    return dataclasses.replace(base, **change)


def order(contract: type[OrderEvent] = OrderPlaced, **change: Any) -> OrderEvent:
    """The typed payload of an ``order.placed`` event (or of ``contract``), read from its JSON
    as a subscriber reads it."""
    return payloads.decode(
        contract,
        {
            "order_id": str(uuid4()),
            "placer_number": "ORD00000042",
            "code": "FBC",
            "display": "Full blood count",
            "loinc": {"code": "24317-0", "display": "Hemogram and platelet count, automated"},
            "priority": "routine",
            "status": "active",
            "version": 1,
            "visit_number": "V00000017",
            "specimen_note": "",
            "ordered_at": "2026-03-01T09:55:00+00:00",
            **change,
        },
    )


NO_NHS = (IdentifierRecord("urn:clinic:riverside:mrn", "M000001234", IdentifierUse.USUAL, CLINIC),)
# The range of orders every profile is built for: (name, facts, order control).
ORDERS: dict[str, tuple[OrderFacts, str]] = {
    name: (OrderFacts(CLINIC, "LAB", "ACME", p, o, provider), control)
    for name, p, o, provider, control in [
        ("complete", patient(), order(), ("12", "Dr Who"), "NW"),
        ("cancel", patient(), order(OrderCancelled, version=2, status="revoked"), ("12", "Dr Who"), "CA"),
        (
            "urgent with a note",
            patient(),
            order(priority="urgent", specimen_note="fasting\nsince 8am"),
            ("12", "Dr Who"),
            "NW",
        ),
        (
            "HL7 delimiters in free text",
            patient(name=HumanName(family="O'Brien|^&~\\", given=("Ann",))),
            order(specimen_note="a|b^c&d~e\\f", display="Full ^ blood | count"),
            ("12", "Dr^Who"),
            "NW",
        ),
        ("no LOINC", patient(), order(code="XYZ", display="In-house test", loinc=None), ("12", "Dr Who"), "NW"),
        ("no NHS number", patient(identifiers=NO_NHS), order(), ("12", "Dr Who"), "NW"),
        ("no ordering provider", patient(), order(), None, "NW"),
        ("no birth date", patient(birth_date=None, gender=Gender.UNKNOWN), order(), ("12", "Dr Who"), "NW"),
    ]
}
# Where a profile cannot take an order, and the field it is refused on. Anything else refused
# is a profile the builder cannot satisfy: the contract test fails naming the field.
REFUSED = {
    ("oml-o21-v2.5.1-loi", "no LOINC"): "OBR-4.3",
    ("oml-o21-v2.5.1-loi", "no ordering provider"): "ORC-12",
    ("oml-o21-v2.5.1-loi", "no birth date"): "PID-7",
    ("orm-o01-v2.5-regional", "no NHS number"): "PID-3",
    ("orm-o01-v2.5-regional", "no ordering provider"): "ORC-12",
    ("orm-o01-v2.5-regional", "no birth date"): "PID-7",
}


def build(profile: OrderProfile, facts: OrderFacts, control: str = "NW") -> str:
    return build_order_message(
        profile, facts, control_id="CTRL1", sent_at=SENT_AT, order_control=control, sending_application="CLINIC"
    )


def fields(text: str) -> dict[str, er7.Segment]:
    return {s.id: s for s in er7.parse(text.strip("\r")).segments}


@pytest.mark.parametrize("name", sorted(ORDERS))
@pytest.mark.parametrize("profile_name", sorted(profiles()))
def test_every_profile_builds_valid_messages_for_every_order_or_refuses_naming_the_field(profile_name, name):
    profile = get_profile(profile_name)
    facts, control = ORDERS[name]
    expected_refusal = REFUSED.get((profile_name, name))

    if expected_refusal is not None:
        with pytest.raises(ProfileUnsatisfied) as refused:
            build(profile, facts, control)
        assert refused.value.field == expected_refusal, str(refused.value)
        return
    try:
        text = build(profile, facts, control)
    except ProfileUnsatisfied as exc:
        pytest.fail(f"{profile_name} cannot be satisfied for the order {name!r}: {exc}")

    # The structure, again, as the lab's parser would see it; and the profile's own rules.
    parsed = parse_message(text.strip("\r"), validation_level=VALIDATION_LEVEL.STRICT)
    assert parsed.name == profile.structure
    check(profile, text, clinic=CLINIC)
    seg = fields(text)
    assert seg["MSH"].field(9) == f"{profile.message_type}^{profile.structure}"
    assert seg["MSH"].field(12) == profile.version
    assert seg["ORC"].field(1) == control and seg["ORC"].field(2) == facts.order.placer_number
    assert seg["OBR"].field(2) == facts.order.placer_number
    assert "M000000007" not in seg["PID"].raw(3)  # an old identifier is never sent
    assert seg["PID"].components(5)[0] == facts.patient.name.family  # free text survives escaping
    assert text.count("\r") == len(seg)  # and cannot forge a segment


def test_the_refusals_listed_are_of_profiles_and_orders_that_exist():
    assert {p for p, _ in REFUSED} <= set(profiles())
    assert {o for _, o in REFUSED} <= set(ORDERS)


def test_the_default_profile_is_todays_orm():
    text = build(get_profile(DEFAULT_PROFILE), ORDERS["urgent with a note"][0])

    seg = fields(text)
    assert list(seg) == ["MSH", "PID", "PV1", "ORC", "OBR"]
    assert seg["PID"].raw(3) == f"M000001234^^^{CLINIC}^MR~9434765919^^^NHS^NH"
    assert seg["OBR"].raw(4) == "24317-0^Hemogram and platelet count, automated^LN^FBC^Full blood count^L"
    assert seg["OBR"].field(5) == "S" and seg["OBR"].field(13) == "fasting since 8am"
    assert seg["PV1"].field(19) == "V00000017"


def test_the_loi_profile_builds_an_oml_o21_with_its_profile_provider_priority_and_specimen():
    text = build(get_profile("oml-o21-v2.5.1-loi"), ORDERS["urgent with a note"][0])

    seg = fields(text)
    assert list(seg) == ["MSH", "PID", "PV1", "ORC", "TQ1", "OBR", "SPM"]
    assert seg["MSH"].raw(9) == "OML^O21^OML_O21" and seg["MSH"].field(12) == "2.5.1"
    assert seg["MSH"].raw(21) == "LOI_Common_Component^^2.16.840.1.113883.9.66^ISO"
    assert seg["ORC"].raw(12) == f"12^Dr Who^^^^^^^{CLINIC}" == seg["OBR"].raw(16)
    assert seg["TQ1"].field(9) == "S"
    assert seg["OBR"].component(4, 3) == "LN"
    assert seg["SPM"].raw(4) == "119297000^Blood specimen^SCT"


# --- A profile change the builder cannot satisfy fails, naming the field ---------------------------


def changed(name: str, **change: Any) -> OrderProfile:
    data = json.loads((PROFILE_DIR / f"{name}.json").read_text())
    for key, value in change.items():
        data[key] = value(data[key]) if callable(value) else value
    return parse_profile(data)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"required": lambda r: [*r, "PV1-3"]}, "PV1-3"),  # a field nothing fills
        ({"rules": lambda r: [*r, {"field": "OBR-4.3", "equals": "SCT", "why": "SNOMED only"}]}, "OBR-4.3"),
        ({"rules": lambda r: [*r, {"field": "PID-3.1", "pattern": "^[0-9]+$", "why": "digits"}]}, "PID-3.1"),
        ({"version": "2.5.1", "msh21": ["X^^1.2^ISO"], "required": lambda r: [*r, "MSH-21"]}, None),
    ],
)
def test_a_profile_change_the_builder_cannot_satisfy_fails_naming_the_field(change, field):
    profile = changed(DEFAULT_PROFILE, **change)

    if field is None:  # a change the builder can satisfy: it builds
        build(profile, ORDERS["complete"][0])
        return
    with pytest.raises(ProfileUnsatisfied) as refused:
        build(profile, ORDERS["complete"][0])
    assert refused.value.field == field and field in str(refused.value)


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"message_type": "ORU^R01"}, "message_type 'ORU^R01'"),
        ({"version": "2.3"}, "version '2.3'"),
        ({"sources": {"PID-3": ["passport"]}}, "'passport' is unknown"),
        ({"sources": {"OBR-13": "mrn"}}, "'mrn' cannot fill OBR-13"),
        ({"sources": {"PID-3": "mrn"}}, "PID-3 takes a list"),
        ({"sources": {"SPM-4": "=119297000^Blood^SCT"}}, "ORM^O01 has no SPM segment"),
        ({"required": ["OBR4"]}, "'OBR4' is not a field"),
        ({"rules": [{"field": "OBR-4.3"}]}, "says nothing"),
    ],
)
def test_a_profile_that_is_not_one_is_refused_when_loaded(change, text):
    with pytest.raises(ProfileInvalid, match=text.replace("^", r"\^").replace("(", r"\(")):
        changed(DEFAULT_PROFILE, **change)


def test_every_profile_file_is_named_after_its_profile_and_loads():
    assert sorted(p.stem for p in PROFILE_DIR.glob("*.json")) == sorted(profiles())
    assert DEFAULT_PROFILE in profiles()


@pytest.mark.django_db
def test_the_admin_offers_every_profile_for_a_lab_partner(admin_client):
    page = admin_client.get("/admin/interop/labpartner/add/").content.decode()

    for name, profile in profiles().items():
        assert f"{name}: {profile.message_type} v{profile.version}" in page
