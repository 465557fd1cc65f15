"""Shapes of the scheduling and encounter API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from clinic.api.fields import StrictCharField, StrictIntegerField, StrictSerializer
from encounters.models import Appointment, Encounter, Slot


class SlotQuery(serializers.Serializer):  # type: ignore[type-arg]
    practitioner = serializers.IntegerField(required=False)
    date = serializers.DateField(required=False)
    free = serializers.BooleanField(required=False, default=False)


class IdentifierRef(StrictSerializer):
    system = StrictCharField(max_length=255)
    value = StrictCharField(max_length=100)


class BookIn(StrictSerializer):
    """The patient by UUID, or by one of their identifiers (resolved through identity)."""

    slot = StrictIntegerField()
    patient = serializers.UUIDField(required=False)
    patient_identifier = IdentifierRef(required=False)
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("patient" in data) == ("patient_identifier" in data):
            raise serializers.ValidationError({"patient": "Give either patient (a UUID) or patient_identifier."})
        return data


class RescheduleIn(StrictSerializer):
    slot = StrictIntegerField()


class WalkInIn(StrictSerializer):
    patient = serializers.UUIDField()
    site = StrictIntegerField()
    practitioner = StrictIntegerField(required=False, allow_null=True, default=None)


def slot_json(slot: Slot) -> dict[str, Any]:
    return {
        "id": slot.pk,
        "practitioner": slot.practitioner_id,
        "site": slot.site_id,
        "start_at": slot.start_at.isoformat(),
        "end_at": slot.end_at.isoformat(),
        "free": not getattr(slot, "booked", False) and not slot.blocked,
    }


def appointment_json(appointment: Appointment) -> dict[str, Any]:
    return {
        "id": str(appointment.pk),
        "slot": slot_json(appointment.slot),
        "patient": str(appointment.patient_id),
        "reason": appointment.reason,
        "status": appointment.status,
        "rescheduled_from": str(appointment.rescheduled_from_id) if appointment.rescheduled_from_id else None,
        "created_at": appointment.created_at.isoformat(),
    }


def encounter_json(encounter: Encounter) -> dict[str, Any]:
    return {
        "id": str(encounter.pk),
        "visit_number": encounter.visit_number,
        "patient": str(encounter.patient_id),
        "site": encounter.site_id,
        "practitioner": encounter.practitioner_id,
        "appointment": str(encounter.appointment_id) if encounter.appointment_id else None,
        "status": encounter.status,
        "period_start": encounter.period_start.isoformat() if encounter.period_start else None,
        "period_end": encounter.period_end.isoformat() if encounter.period_end else None,
    }


class SlotOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    practitioner = serializers.IntegerField()
    site = serializers.IntegerField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    free = serializers.BooleanField()


class AppointmentOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    slot = SlotOut()
    patient = serializers.UUIDField()
    reason = serializers.CharField()
    status = serializers.CharField()
    rescheduled_from = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()


class EncounterOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    visit_number = serializers.CharField()
    patient = serializers.UUIDField()
    site = serializers.IntegerField()
    practitioner = serializers.IntegerField(allow_null=True)
    appointment = serializers.UUIDField(allow_null=True)
    status = serializers.CharField()
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)


class TimelineEntryOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    event_id = serializers.UUIDField()
    type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    summary = serializers.CharField()
    reference = serializers.CharField()
