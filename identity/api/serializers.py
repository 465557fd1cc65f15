"""Input and output shapes of the patient API (documented in docs/identity.md)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from clinic.api.fields import StrictBooleanField, StrictCharField, StrictSerializer
from identity.contracts import (
    ContactPoint,
    Demographics,
    Gender,
    HumanName,
    IdentifierInput,
    IdentifierUse,
)

REGISTRATION_USES = [IdentifierUse.USUAL.value, IdentifierUse.OFFICIAL.value, IdentifierUse.SECONDARY.value]
TELECOM_SYSTEMS = ["phone", "fax", "email", "pager", "url", "sms", "other"]
TELECOM_USES = ["home", "work", "temp", "old", "mobile"]


class IdentifierIn(StrictSerializer):
    system = StrictCharField(max_length=255)
    value = StrictCharField(max_length=100, allow_blank=True)
    use = serializers.ChoiceField(choices=REGISTRATION_USES, required=False)


class NameIn(StrictSerializer):
    family = StrictCharField(max_length=100, allow_blank=True)
    given = serializers.ListField(child=StrictCharField(max_length=100, allow_blank=True), required=False, default=list)
    use = serializers.ChoiceField(
        choices=["usual", "official", "nickname", "anonymous", "old", "maiden"], required=False
    )


class TelecomIn(StrictSerializer):
    system = serializers.ChoiceField(choices=TELECOM_SYSTEMS)
    value = StrictCharField(max_length=200)
    use = serializers.ChoiceField(choices=TELECOM_USES, required=False)


class AddressIn(StrictSerializer):
    """FHIR Address (http://hl7.org/fhir/R4/datatypes.html#Address), the parts clinics use."""

    use = serializers.ChoiceField(choices=["home", "work", "temp", "old", "billing"], required=False)
    text = StrictCharField(max_length=500, required=False)
    line = serializers.ListField(child=StrictCharField(max_length=200), required=False)
    city = StrictCharField(max_length=100, required=False)
    district = StrictCharField(max_length=100, required=False)
    state = StrictCharField(max_length=100, required=False)
    postalCode = StrictCharField(max_length=20, required=False)
    country = StrictCharField(max_length=100, required=False)


class DemographicsIn(StrictSerializer):
    identifiers = IdentifierIn(many=True, required=False, default=list)
    name = NameIn(required=False)
    other_names = NameIn(many=True, required=False, default=list)
    birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    gender = serializers.ChoiceField(choices=[g.value for g in Gender], required=False)
    telecom = TelecomIn(many=True, required=False, default=list)
    address = AddressIn(many=True, required=False, default=list)


class RegisterIn(DemographicsIn):
    name = NameIn()
    confirm_new = StrictBooleanField(required=False, default=False)


class MatchIn(DemographicsIn):
    pass


def to_identifiers(data: dict[str, Any]) -> list[IdentifierInput]:
    return [
        IdentifierInput(system=i["system"], value=i["value"], use=IdentifierUse(i["use"]) if i.get("use") else None)
        for i in data.get("identifiers", [])
    ]


def to_name(data: dict[str, Any]) -> HumanName:
    return HumanName(family=data["family"], given=tuple(data.get("given", [])), use=data.get("use", "official"))


def to_demographics(data: dict[str, Any]) -> Demographics:
    return Demographics(
        name=to_name(data["name"]) if data.get("name") else None,
        birth_date=data.get("birth_date"),
        gender=Gender(data["gender"]) if data.get("gender") else None,
        telecom=tuple(
            ContactPoint(system=t["system"], value=t["value"], use=t.get("use")) for t in data.get("telecom", [])
        ),
        address=tuple(dict(a) for a in data.get("address", [])),
        other_names=tuple(to_name(n) for n in data.get("other_names", [])),
    )


class PatientQuery(serializers.Serializer):  # type: ignore[type-arg]
    identifier = serializers.RegexField(
        r"^[^|]+\|.+$", required=False, error_messages={"invalid": "Use identifier=<system>|<value>."}
    )
    family = serializers.CharField(max_length=100, required=False)
    birth_date = serializers.DateField(required=False)


class MergeIn(StrictSerializer):
    source = serializers.UUIDField()  # type: ignore[assignment]  # the API's name; shadows Field.source
    reason = StrictCharField(max_length=1000)


class UnmergeIn(StrictSerializer):
    reason = StrictCharField(max_length=1000)


# Output shapes (documentation for the schema; bodies are built by identity.serialise).


class IdentifierOut(serializers.Serializer):  # type: ignore[type-arg]
    system = serializers.CharField()
    value = serializers.CharField()
    use = serializers.CharField()
    assigning_authority = serializers.CharField()


class NameOut(serializers.Serializer):  # type: ignore[type-arg]
    family = serializers.CharField()
    given = serializers.ListField(child=serializers.CharField())
    use = serializers.CharField()


class LinkOut(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.ChoiceField(choices=["replaced-by", "replaces"])
    other = serializers.UUIDField()


class PatientOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    active = serializers.BooleanField()
    identifiers = IdentifierOut(many=True)
    name = NameOut()
    other_names = NameOut(many=True)
    birth_date = serializers.DateField(allow_null=True)
    gender = serializers.CharField()
    telecom = serializers.ListField(child=serializers.DictField())
    address = serializers.ListField(child=serializers.DictField())
    links = LinkOut(many=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CandidateOut(serializers.Serializer):  # type: ignore[type-arg]
    patient = PatientOut()
    grade = serializers.ChoiceField(choices=["certain", "probable", "possible"])
    score = serializers.FloatField()
    rule = serializers.CharField()


class MatchOut(serializers.Serializer):  # type: ignore[type-arg]
    candidates = CandidateOut(many=True)


class MovedOut(serializers.Serializer):  # type: ignore[type-arg]
    model = serializers.CharField()
    id = serializers.CharField()
    field = serializers.CharField()


class MergeOut(serializers.Serializer):  # type: ignore[type-arg]
    merge_id = serializers.UUIDField()
    source = PatientOut()  # type: ignore[assignment]  # the API's name; shadows Field.source
    target = PatientOut()
    reason = serializers.CharField()
    merged_at = serializers.DateTimeField()
    moved = MovedOut(many=True)
    already_merged = serializers.BooleanField()


class UnmergeOut(serializers.Serializer):  # type: ignore[type-arg]
    merge_id = serializers.UUIDField()
    source = PatientOut()  # type: ignore[assignment]  # the API's name; shadows Field.source
    target = PatientOut()
    returned = MovedOut(many=True)
    review = MovedOut(many=True)
    not_returned = MovedOut(many=True)


class IdentifierSystemOut(serializers.Serializer):  # type: ignore[type-arg]
    uri = serializers.CharField()
    name = serializers.CharField()
    assigning_authority = serializers.CharField()
    oid = serializers.CharField()
    validator = serializers.CharField()
    pattern = serializers.CharField()
    authoritative = serializers.BooleanField()
    mints = serializers.BooleanField()
