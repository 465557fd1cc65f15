"""Identity models: identifier systems, patients and their identifiers, merges and their ledger."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from clinic.db import TenantScopedModel
from identity.contracts import Gender, IdentifierUse


class IdentifierSystem(TenantScopedModel):
    """A namespace of patient identifiers a tenant accepts (its MRN, the NHS number, a lab's IDs).

    ``uri`` is the FHIR ``Identifier.system``; ``assigning_authority`` the HL7 v2 CX-4 namespace
    that a lab puts in PID-3.
    """

    class Validator(models.TextChoices):
        NONE = "none", "No check"
        PATTERN = "pattern", "Regular expression"
        NHS_NUMBER = "nhs-number", "NHS number (modulus 11 check digit)"

    uri = models.CharField(max_length=255)
    name = models.CharField(max_length=100)
    assigning_authority = models.CharField(max_length=64)
    oid = models.CharField(max_length=128, blank=True)
    validator = models.CharField(max_length=20, choices=Validator.choices, default=Validator.PATTERN)
    pattern = models.CharField(max_length=200, blank=True, default=r"^[A-Za-z0-9-]{1,20}$")
    authoritative = models.BooleanField(default=False)
    mints = models.BooleanField(
        default=False, help_text="The tenant's own MRN: a patient registered without one gets one minted."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "uri"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "uri"], name="identifier_system_uri_unique"),
            models.UniqueConstraint(
                fields=["tenant", "assigning_authority"], name="identifier_system_authority_unique"
            ),
            models.UniqueConstraint(fields=["tenant"], condition=Q(mints=True), name="identifier_system_one_minting"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.uri})"

    def clean(self) -> None:
        import re

        from django.core.exceptions import ValidationError

        if self.validator == self.Validator.PATTERN:
            if not self.pattern:
                raise ValidationError({"pattern": "A pattern is required for the pattern validator."})
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValidationError({"pattern": f"Not a valid regular expression: {exc}."}) from exc


class Patient(TenantScopedModel):
    """One human in one tenant. Every clinical row in every app points at this UUID."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    family = models.CharField(max_length=100)
    given = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    other_names = models.JSONField(default=list, blank=True)  # [{"use", "family", "given"}]
    birth_date = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=10, choices=[(g.value, g.value) for g in Gender], default=Gender.UNKNOWN)
    telecom = models.JSONField(default=list, blank=True)  # [{"system", "value", "use"}]
    address = models.JSONField(default=list, blank=True)  # FHIR Address objects
    active = models.BooleanField(default=True)
    replaced_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaces")
    # Normalised keys for matching (lower case, no accents, punctuation or spaces).
    family_key = models.CharField(max_length=100, editable=False)
    given_key = models.CharField(max_length=100, editable=False, blank=True)
    phone_keys = ArrayField(models.CharField(max_length=32), default=list, blank=True, editable=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "birth_date"], name="patient_block_birth_date"),
            models.Index(fields=["tenant", "family_key", "given_key", "birth_date"], name="patient_block_family"),
            models.Index(fields=["tenant", "updated_at"], name="patient_by_last_updated"),
            # FHIR name/family/given search: LIKE 'key%' needs pattern operators.
            models.Index(
                fields=["tenant", "family_key"],
                opclasses=["int8_ops", "varchar_pattern_ops"],
                name="patient_family_prefix",
            ),
            models.Index(
                fields=["tenant", "given_key"],
                opclasses=["int8_ops", "varchar_pattern_ops"],
                name="patient_given_prefix",
            ),
        ]

    def __str__(self) -> str:
        return str(self.id)  # no names in logs or admin breadcrumbs

    def set_keys(self) -> None:
        """Derive the normalised keys matching and search read from the names and phones (``save``
        does; call it before a ``bulk_create``, which does not)."""
        from identity.normalise import name_key, phone_key

        self.family_key = name_key(self.family)
        self.given_key = name_key(self.given[0]) if self.given else ""
        self.phone_keys = sorted({phone_key(t.get("value")) for t in self.telecom if t.get("system") == "phone"} - {""})

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Matching and search read the normalised keys: keep them true to the names, whoever
        # saves (registration, admin).
        self.set_keys()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "family_key", "given_key", "phone_keys"}
        super().save(*args, **kwargs)


class PatientRevision(TenantScopedModel):
    """A version of a patient that is no longer current, as it stood (its row and identifiers)
    just before the change that bumped ``Patient.version``. Written by a database trigger
    (migration 0004), so every writer keeps history: services, the admin, raw SQL."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField()
    content = models.JSONField()
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["patient_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "version"], name="patient_revision_once"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} v{self.version}"


class PatientIdentifier(TenantScopedModel):
    """An identifier held by a patient. A (system, value) belongs to one patient of a tenant, in
    any use: when a merge moves it, it moves (as ``old``) with the record it identifies."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="identifiers")
    system = models.ForeignKey(IdentifierSystem, on_delete=models.PROTECT, related_name="+")
    value = models.CharField(max_length=100)
    use = models.CharField(
        max_length=10, choices=[(u.value, u.value) for u in IdentifierUse], default=IdentifierUse.USUAL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient_id", "system_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "system", "value"], name="patient_identifier_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.system_id}|{self.value}"


class MergeRecord(TenantScopedModel):
    """A merge of ``source`` into ``target``; its entries say what moved, so it can be undone."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    target = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    merged_by = models.CharField(max_length=200)
    merged_at = models.DateTimeField(auto_now_add=True)
    unmerged_at = models.DateTimeField(null=True, blank=True)
    unmerged_by = models.CharField(max_length=200, blank=True)
    unmerge_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-merged_at"]
        constraints = [
            # A patient is merged away into at most one other at a time.
            models.UniqueConstraint(
                fields=["source"], condition=Q(unmerged_at__isnull=True), name="merge_one_live_per_source"
            ),
        ]

    def __str__(self) -> str:
        return f"merge {self.id}"


class MergeLedgerEntry(models.Model):
    """One row a merge moved: an identifier (with its previous use) or a reference in some app."""

    class Kind(models.TextChoices):
        IDENTIFIER = "identifier"
        REFERENCE = "reference"

    merge = models.ForeignKey(MergeRecord, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    model = models.CharField(max_length=100)  # app_label.ModelName
    object_id = models.CharField(max_length=64)
    field = models.CharField(max_length=64)
    previous = models.CharField(max_length=20, blank=True)  # an identifier's use before the merge

    class Meta:
        ordering = ["merge_id", "id"]
        verbose_name_plural = "merge ledger entries"

    def __str__(self) -> str:
        return f"{self.model}:{self.object_id}.{self.field}"
