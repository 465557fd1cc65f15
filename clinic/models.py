"""Kernel models: tenancy (policy templates, tenants, sites, memberships, API clients) and the
transactional event outbox (events and their per-subscriber deliveries)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinic.contracts import Role


class PolicyTemplate(models.Model):
    """Defaults shared by the tenants of a group (identifier systems to seed, matching
    thresholds, flag defaults...). A tenant adopts one and may override any key."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tenant(models.Model):
    """A clinic organisation. Every clinical row carries its tenant."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    policy_template = models.ForeignKey(
        PolicyTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="tenants"
    )
    policy_overrides = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Site(models.Model):
    """A place where a tenant sees patients (a surgery, a clinic building)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="sites")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="Europe/London")
    address = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="site_code_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Membership(models.Model):
    """A staff user's role in a tenant."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=[(r.value, r.name.replace("_", " ").title()) for r in Role])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.tenant_id}:{self.role}"


class ApiClient(models.Model):
    """An integration bound to one tenant. Its bearer token is stored only as a SHA-256 digest;
    the token itself is shown once, when the client is created or its token rotated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="api_clients")
    name = models.CharField(max_length=100)
    token_prefix = models.CharField(max_length=16, help_text="First characters of the token, to recognise it.")
    token_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="api_client_name_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` for one kind of request, with the outcome of its first use.

    Written in the transaction of the use case it protects: a retry finds the committed outcome;
    a concurrent duplicate waits on the unique constraint, then finds it too."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=100)
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request the key was first used with")
    result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "scope", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class OutboxEvent(models.Model):
    """One event, written in the transaction of the change it describes (transactional outbox).

    ``sweep_after`` is when the sweep may hand the event to the broker again if it is still
    undelivered; publishing and every (re)dispatch push it into the future.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    patient_id = models.UUIDField(null=True, blank=True)
    encounter_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    # The version of the type's payload contract that wrote ``payload`` (clinic.contracts.EventPayload).
    # A database default too: a process still running older code inserts without it, as version 1.
    payload_version = models.PositiveSmallIntegerField(default=1, db_default=1)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_count = models.PositiveIntegerField(default=0)
    sweep_after = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["recorded_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "type", "recorded_at"], name="outbox_tenant_type_idx"),
            models.Index(fields=["tenant", "encounter_id", "recorded_at"], name="outbox_encounter_idx"),
            models.Index(fields=["tenant", "patient_id", "recorded_at"], name="outbox_patient_idx"),
            models.Index(fields=["sweep_after"], condition=Q(delivered_at__isnull=True), name="outbox_undelivered_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class EventDelivery(models.Model):
    """The delivery of one event to one subscriber. The unique constraint makes the subscriber's
    effect happen once: it runs in the same transaction that marks this row delivered."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.CharField(max_length=200)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event_id", "subscriber"]
        verbose_name_plural = "event deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="event_delivery_once_per_subscriber"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscriber}"
