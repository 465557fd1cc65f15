"""Input and output serializers of the kernel's endpoints."""

from __future__ import annotations

from rest_framework import serializers

from clinic.api.fields import StrictCharField, StrictSerializer


class TenantOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class PrincipalOut(serializers.Serializer):  # type: ignore[type-arg]
    tenant = TenantOut()
    kind = serializers.ChoiceField(choices=["user", "client"])
    id = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField())


class SiteIn(StrictSerializer):
    code = StrictCharField(max_length=64)
    name = StrictCharField(max_length=200)
    timezone = StrictCharField(max_length=64, required=False, default="Europe/London")
    address = StrictCharField(required=False, allow_blank=True, default="")


class SiteOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    timezone = serializers.CharField()
    address = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class EventQuery(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.RegexField(r"^[a-z][a-z0-9_.]*$", max_length=100, required=False)
    patient = serializers.UUIDField(required=False)
    encounter = serializers.UUIDField(required=False)
    undelivered = serializers.BooleanField(required=False, allow_null=True, default=None)


class DeliveryOut(serializers.Serializer):  # type: ignore[type-arg]
    subscriber = serializers.CharField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)


class EventOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    type = serializers.CharField()
    patient_id = serializers.UUIDField(allow_null=True)
    encounter_id = serializers.UUIDField(allow_null=True)
    payload = serializers.JSONField()
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    dispatched_at = serializers.DateTimeField(allow_null=True)
    dispatch_count = serializers.IntegerField()
    delivered_at = serializers.DateTimeField(allow_null=True)


class EventDetailOut(EventOut):
    deliveries = DeliveryOut(many=True)
