"""The edges: lab partners and the delivery log of messages sent to them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from clinic.db import TenantScopedModel


class LabPartner(TenantScopedModel):
    """A laboratory the tenant exchanges HL7 v2 with."""

    name = models.CharField(max_length=100)
    application = models.CharField(max_length=100, blank=True, help_text="Their application (MSH-3 / MSH-5).")
    facility = models.CharField(max_length=100, help_text="Their facility (MSH-4 / MSH-6).")
    mllp_host = models.CharField(max_length=255, blank=True)
    mllp_port = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="lab_partner_name_unique"),
            models.CheckConstraint(
                condition=Q(mllp_port__isnull=True) | Q(mllp_port__gte=1, mllp_port__lte=65535),
                name="lab_partner_port_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OutboundMessage(TenantScopedModel):
    """One message to a lab, keyed on (partner, order, order version): the lab can consume it
    idempotently, and a redelivered event never sends a second, different message. The ACK is
    recorded here, never in clinical tables."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACKED = "acked"
        REJECTED = "rejected"

    partner = models.ForeignKey(LabPartner, on_delete=models.PROTECT, related_name="outbound")
    order = models.ForeignKey("orders.ServiceRequest", on_delete=models.PROTECT, related_name="+")
    order_version = models.PositiveIntegerField()
    event_id = models.UUIDField()
    message_type = models.CharField(max_length=20, default="ORM^O01")
    order_control = models.CharField(max_length=2, help_text="ORC-1: NW new, CA cancel.")
    control_id = models.CharField(max_length=40, unique=True)
    payload = models.TextField(help_text="The ER7 message as sent (it names the patient: not for logs).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    ack_code = models.CharField(max_length=2, blank=True)
    ack_text = models.TextField(blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "order", "order_version"], name="outbound_once_per_order_version"
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="outbound_pending_idx"),
        ]

    def __str__(self) -> str:
        return self.control_id
