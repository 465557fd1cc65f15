"""Shapes of the terminology API."""

from __future__ import annotations

from rest_framework import serializers


class TranslateQuery(serializers.Serializer):  # type: ignore[type-arg]
    system = serializers.CharField(max_length=255)
    code = serializers.CharField(max_length=100)
    target = serializers.CharField(max_length=255)
    date = serializers.DateField(required=False, help_text="Clinical date; default today")


class UnmappedQuery(serializers.Serializer):  # type: ignore[type-arg]
    include_resolved = serializers.BooleanField(required=False, default=False)


class CodingOut(serializers.Serializer):  # type: ignore[type-arg]
    system = serializers.CharField()
    code = serializers.CharField()
    display = serializers.CharField()


class MapVersionOut(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    url = serializers.CharField()
    version = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)
    scope = serializers.ChoiceField(choices=["global", "tenant"])


class TranslationOut(serializers.Serializer):  # type: ignore[type-arg]
    date = serializers.DateField()
    source = CodingOut()  # type: ignore[assignment]  # the API's name; shadows Field.source
    target = CodingOut()
    equivalence = serializers.CharField()
    comment = serializers.CharField()
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(allow_null=True)
    target_status = serializers.ChoiceField(choices=["active", "retired", "not-yet-active", "unknown"])
    map = MapVersionOut()


class UnmappedOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    source_system = serializers.CharField()
    code = serializers.CharField()
    target_system = serializers.CharField()
    display = serializers.CharField()
    first_seen_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    count = serializers.IntegerField()
    last_reference = serializers.CharField()
    resolved_at = serializers.DateTimeField(allow_null=True)
