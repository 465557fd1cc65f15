"""The edges: lab partners, the delivery log of messages sent to them, and the store of every
message received from them."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q

from clinic.db import TenantScopedModel
from interop.v2.charsets import CHARSETS
from interop.v2.charsets import DEFAULT as DEFAULT_CHARSET
from interop.v2.order_profiles import DEFAULT_PROFILE
from results.contracts import UnsolicitedResults


class LabPartner(TenantScopedModel):
    """A laboratory the tenant exchanges HL7 v2 with."""

    name = models.CharField(max_length=100)
    application = models.CharField(max_length=100, blank=True, help_text="Their application (MSH-3 / MSH-5).")
    facility = models.CharField(max_length=100, help_text="Their facility (MSH-4 / MSH-6).")
    mllp_host = models.CharField(max_length=255, blank=True)
    mllp_port = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The partner's profile (ADR 0010): how we read what it sends and what we send it.
    charset = models.CharField(
        max_length=20,
        choices=[(name, name) for name in CHARSETS],
        default=DEFAULT_CHARSET,
        help_text="Character set of its messages whose MSH-18 is empty (HL7 table 0211).",
    )
    unsolicited_results = models.CharField(
        max_length=10,
        choices=[(u.value, u.value) for u in UnsolicitedResults],
        default=UnsolicitedResults.HOLD.value,
        help_text=(
            "A result whose order is not found: 'hold' it for review until the order appears, or 'chart' it to "
            "the patient without an order (to the visit in PV1-19, else to no encounter; flagged on the open "
            "encounters). See ADR 0010 before choosing 'chart'."
        ),
    )
    outbound_profile = models.CharField(
        max_length=60,
        default=DEFAULT_PROFILE,
        help_text="The shape of the order messages it takes: a profile of interop/v2/profiles/ (ORM^O01 or OML^O21).",
    )

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
        INVALID = "invalid", "Not sent: it breaks the lab's profile"

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


class InboundMessage(models.Model):
    """Every HL7 v2 message received, stored raw before anything else is done with it, with what
    became of it. The tenant is unknown (null) when the sender is: such a message is stored,
    refused (AR) and charts nothing."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, not yet processed"
        PROCESSED = "processed"
        DUPLICATE = "duplicate", "Duplicate (already charted)"
        HELD = "held", "Held (patient or order unknown)"
        REJECTED = "rejected"

    class Transport(models.TextChoices):
        MLLP = "mllp"
        HTTP = "http"

    tenant = models.ForeignKey("clinic.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(LabPartner, null=True, blank=True, on_delete=models.PROTECT, related_name="inbound")
    transport = models.CharField(max_length=4, choices=Transport.choices)
    peer = models.CharField(max_length=100, blank=True, help_text="Remote address, or the API client.")
    raw = models.BinaryField(help_text="The bytes as received (they name the patient: not for logs).")
    size = models.PositiveIntegerField()
    truncated = models.BooleanField(default=False, help_text="Longer than the store keeps: only the start is here.")
    sha256 = models.CharField(max_length=64)
    sending_application = models.CharField(max_length=100, blank=True)
    sending_facility = models.CharField(max_length=100, blank=True)
    receiving_facility = models.CharField(max_length=100, blank=True)
    control_id = models.CharField(max_length=200, blank=True)
    message_type = models.CharField(max_length=20, blank=True)
    version = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    ack_code = models.CharField(max_length=2, blank=True)
    ack_text = models.TextField(blank=True)
    ack_control_id = models.CharField(max_length=40, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="[{location, code, severity, text}] as sent in ERR.")
    produced = models.JSONField(default=dict, blank=True, help_text="IDs of what it charted, registered or merged.")
    event_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    accessions = ArrayField(models.CharField(max_length=80), default=list, blank=True)
    placer_numbers = ArrayField(models.CharField(max_length=80), default=list, blank=True)
    patient_id = models.UUIDField(null=True, blank=True, help_text="The patient it was charted to (at the time).")
    held_id = models.UUIDField(null=True, blank=True, help_text="Its row in the held-results work queue.")
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reprocess_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField()
    committed_at = models.DateTimeField(null=True, blank=True, help_text="When its clinical transaction committed.")
    acknowledged_at = models.DateTimeField(null=True, blank=True, help_text="When the ACK was handed to the sender.")

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["tenant", "control_id"], name="inbound_by_control_id"),
            models.Index(fields=["tenant", "sha256"], name="inbound_by_sha256"),
            models.Index(fields=["tenant", "status", "received_at"], name="inbound_by_status"),
            models.Index(fields=["tenant", "patient_id"], name="inbound_by_patient"),
            models.Index(fields=["held_id"], name="inbound_by_held", condition=Q(held_id__isnull=False)),
            GinIndex(fields=["accessions"], name="inbound_by_accession"),
        ]

    def __str__(self) -> str:
        return f"{self.message_type or '?'} {self.control_id or '(no control ID)'}"
