"""Billing: a tenant's fee schedule and the charge items of encounters."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from clinic.db import TenantScopedModel


class FeeScheduleEntry(TenantScopedModel):
    """The price of a fee code from a date until a date (exclusive)."""

    code = models.CharField(max_length=50)
    display = models.CharField(max_length=200, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="GBP")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "fee schedule entries"
        ordering = ["tenant_id", "code", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code", "valid_from"], name="fee_unique_start"),
            models.CheckConstraint(condition=Q(price__gte=0), name="fee_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.price} {self.currency}"


class ChargeItem(TenantScopedModel):
    class Status(models.TextChoices):
        BILLED = "billed"
        REVERSED = "reversed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("identity.Patient", on_delete=models.PROTECT, related_name="+")
    encounter = models.ForeignKey("encounters.Encounter", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=50)
    display = models.CharField(max_length=200, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BILLED)
    source = models.CharField(max_length=100, help_text="What caused the charge, e.g. order:<uuid>.")
    coded = models.JSONField(default=dict, help_text="The catalogue code, its fee code and the map version used.")
    occurred_at = models.DateTimeField()
    reversed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            # One live charge per source: a retried or redelivered order never bills twice.
            models.UniqueConstraint(
                fields=["tenant", "source"], condition=Q(status="billed"), name="charge_once_per_source"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "encounter"], name="charge_by_encounter"),
            # FHIR search parameters (interop/fhir): patient, _lastUpdated.
            models.Index(fields=["tenant", "patient"], name="charge_by_patient"),
            models.Index(fields=["tenant", "updated_at"], name="charge_by_last_updated"),
            models.Index(fields=["tenant", "occurred_at"], name="charge_by_occurrence"),
        ]

    def __str__(self) -> str:
        return f"{self.code} x {self.quantity}"
