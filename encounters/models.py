"""Scheduling and visits: practitioners, weekly schedule templates, slots, appointments, the
encounter and its timeline."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.db import TenantScopedModel
from encounters.contracts import EncounterStatus


class Practitioner(TenantScopedModel):
    name = models.CharField(max_length=200)
    sites = models.ManyToManyField("clinic.Site", related_name="+")
    # The staff user who is this practitioner: their day list defaults to their own patients.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user"], condition=Q(user__isnull=False), name="practitioner_one_per_user"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ScheduleTemplate(TenantScopedModel):
    """A weekly pattern: on ``weekday`` from ``start_time`` to ``end_time`` at ``site``, slots
    of ``slot_minutes``; slots are generated from it (``generate_slots``)."""

    practitioner = models.ForeignKey(Practitioner, on_delete=models.CASCADE, related_name="templates")
    site = models.ForeignKey("clinic.Site", on_delete=models.PROTECT, related_name="+")
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday … 6 = Sunday")
    start_time = models.TimeField()
    end_time = models.TimeField()
    slot_minutes = models.PositiveSmallIntegerField(default=15)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["practitioner_id", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="template_weekday_valid"),
            models.CheckConstraint(condition=Q(end_time__gt=models.F("start_time")), name="template_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.practitioner_id} day {self.weekday} {self.start_time}-{self.end_time}"


class Slot(TenantScopedModel):
    practitioner = models.ForeignKey(Practitioner, on_delete=models.CASCADE, related_name="slots")
    site = models.ForeignKey("clinic.Site", on_delete=models.PROTECT, related_name="+")
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    blocked = models.BooleanField(default=False)

    class Meta:
        ordering = ["start_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["practitioner", "start_at"], name="slot_unique_start"),
        ]
        indexes = [models.Index(fields=["tenant", "practitioner", "start_at"], name="slot_by_practitioner_day")]

    def __str__(self) -> str:
        return f"{self.practitioner_id}@{self.start_at:%Y-%m-%d %H:%M}"


class Appointment(TenantScopedModel):
    class Status(models.TextChoices):
        BOOKED = "booked"
        CHECKED_IN = "checked-in"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey("identity.Patient", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOOKED)
    rescheduled_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # The 08:00 rush: a slot is booked at most once, whoever books it.
            models.UniqueConstraint(fields=["slot"], condition=~Q(status="cancelled"), name="appointment_one_per_slot"),
        ]
        indexes = [
            # FHIR search parameters (interop/fhir): patient, _lastUpdated.
            models.Index(fields=["tenant", "patient"], name="appointment_by_patient"),
            models.Index(fields=["tenant", "updated_at"], name="appointment_by_last_updated"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class Encounter(TenantScopedModel):
    """A visit. ``visit_number`` is unique in the tenant (PV1-19 on outbound messages)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("identity.Patient", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("clinic.Site", on_delete=models.PROTECT, related_name="+")
    practitioner = models.ForeignKey(Practitioner, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    appointment = models.OneToOneField(
        Appointment, null=True, blank=True, on_delete=models.PROTECT, related_name="encounter"
    )
    visit_number = models.CharField(max_length=20)
    status = models.CharField(
        max_length=20, choices=[(s.value, s.value) for s in EncounterStatus], default=EncounterStatus.ARRIVED
    )
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "visit_number"], name="encounter_visit_number_unique"),
            # A patient's active encounter at a site: at most one in progress.
            models.UniqueConstraint(
                fields=["tenant", "patient", "site"],
                condition=Q(status=EncounterStatus.IN_PROGRESS),
                name="encounter_one_in_progress_per_site",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "patient", "status"], name="encounter_by_patient"),
            # FHIR search parameters (interop/fhir): date, _lastUpdated.
            models.Index(fields=["tenant", "period_start"], name="encounter_by_date"),
            models.Index(fields=["tenant", "updated_at"], name="encounter_by_last_updated"),
        ]

    def __str__(self) -> str:
        return self.visit_number


class TimelineEntry(TenantScopedModel):
    """One event in an encounter's timeline: a projection of the outbox (rebuildable).

    ``id`` orders entries and is the SSE event ID that clients resume from."""

    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="timeline")
    # Position in the encounter's timeline, given under the encounter's row lock: entries
    # commit in this order, so a live viewer resumes from it without gaps or repeats.
    seq = models.PositiveIntegerField()
    event_id = models.UUIDField()
    type = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    summary = models.CharField(max_length=500)
    reference = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)  # when it reached the timeline
    pushed_at = models.DateTimeField(null=True, blank=True)  # when it was published to live viewers

    class Meta:
        verbose_name_plural = "timeline entries"
        ordering = ["encounter_id", "id"]
        indexes = [models.Index(fields=["event_id"], name="timeline_entry_by_event")]
        constraints = [
            models.UniqueConstraint(fields=["encounter", "event_id"], name="timeline_entry_once"),
            models.UniqueConstraint(fields=["encounter", "seq"], name="timeline_entry_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.encounter_id}:{self.type}"
