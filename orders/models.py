"""Lab orders (FHIR ServiceRequest)."""

from __future__ import annotations

import uuid

from django.db import models

from clinic.db import TenantScopedModel
from orders.contracts import OrderStatus, Priority


class ServiceRequest(TenantScopedModel):
    """One ordered test. ``version`` grows with every change: one the lab must hear of (cancel),
    so an outbound message is keyed on (order, version), and one the lab told us (its filler
    number, completion), so readers' ETags change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("identity.Patient", on_delete=models.PROTECT, related_name="+")
    encounter = models.ForeignKey("encounters.Encounter", on_delete=models.PROTECT, related_name="+")
    placer_number = models.CharField(max_length=30)
    filler_number = models.CharField(
        max_length=80, blank=True, help_text="The lab's number (ORC-3/OBR-3), from its results."
    )
    code = models.CharField(max_length=100, help_text="The tenant's catalogue code.")
    display = models.CharField(max_length=200, blank=True)
    coded = models.JSONField(default=dict, help_text="Catalogue code, LOINC translation and the map version used.")
    priority = models.CharField(max_length=10, choices=[(p.value, p.value) for p in Priority], default=Priority.ROUTINE)
    status = models.CharField(
        max_length=10, choices=[(s.value, s.value) for s in OrderStatus], default=OrderStatus.ACTIVE
    )
    requester = models.CharField(max_length=200)
    specimen_note = models.CharField(max_length=500, blank=True)
    version = models.PositiveIntegerField(default=1)
    ordered_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ordered_at", "placer_number"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "placer_number"], name="order_placer_number_unique"),
        ]
        indexes = [
            models.Index(fields=["tenant", "encounter"], name="order_by_encounter"),
            models.Index(fields=["tenant", "filler_number"], name="order_by_filler_number"),
            # FHIR search parameters (interop/fhir): patient, _lastUpdated.
            models.Index(fields=["tenant", "patient", "ordered_at"], name="order_by_patient"),
            models.Index(fields=["tenant", "updated_at"], name="order_by_last_updated"),
            models.Index(fields=["tenant", "ordered_at"], name="order_by_authored"),
        ]

    def __str__(self) -> str:
        return self.placer_number
