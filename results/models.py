"""Inbound results: DiagnosticReport (one per OBR), Observation (one per OBX), their prior
versions, and the work queue of results whose patient or order is not known yet."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q

from clinic.db import TenantScopedModel


class DiagnosticReport(TenantScopedModel):
    """One OBR. Its business key (tenant, sending facility, placer, filler, accession, code) is
    unique: a redelivery finds it, a later status updates it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("identity.Patient", on_delete=models.PROTECT, related_name="+")
    encounter = models.ForeignKey("encounters.Encounter", null=True, on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey("orders.ServiceRequest", null=True, on_delete=models.PROTECT, related_name="+")
    sending_facility = models.CharField(max_length=100)
    placer_number = models.CharField(max_length=80, blank=True)
    filler_number = models.CharField(max_length=80, blank=True)
    accession = models.CharField(max_length=80, blank=True)
    code_key = models.CharField(max_length=140, help_text="OBR-4 as 'coding system|identifier'.")
    coded = models.JSONField(default=dict, help_text="OBR-4: the code as received, its LOINC, the map used.")
    status = models.CharField(max_length=20, help_text="FHIR DiagnosticReport.status (from OBR-25, table 0123).")
    v2_status = models.CharField(max_length=2, blank=True)
    effective_at = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    specimen = models.JSONField(default=dict, blank=True)
    comments = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    content_sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=100, blank=True, help_text="What carried the current version.")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="MSH-7 of the message of the current version.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "sending_facility", "placer_number", "filler_number", "accession", "code_key"],
                name="report_business_key",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "patient"], name="report_by_patient"),
            models.Index(fields=["tenant", "encounter"], name="report_by_encounter"),
            models.Index(fields=["tenant", "accession"], name="report_by_accession"),
            # FHIR search parameters (interop/fhir): date, _lastUpdated (based-on uses the
            # order foreign key's own index).
            models.Index(fields=["tenant", "effective_at"], name="report_by_date"),
            models.Index(fields=["tenant", "filler_number"], name="report_by_filler_number"),
            models.Index(fields=["tenant", "updated_at"], name="report_by_last_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.code_key} {self.accession or self.filler_number or self.placer_number}"


class Observation(TenantScopedModel):
    """One OBX. Its business key is its report's plus the OBX-3 code and OBX-4 sub-ID (HL7 does
    not promise MSH-10 is unique, so it is no part of it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    report = models.ForeignKey(DiagnosticReport, on_delete=models.PROTECT, related_name="observations")
    patient = models.ForeignKey("identity.Patient", on_delete=models.PROTECT, related_name="+")
    encounter = models.ForeignKey("encounters.Encounter", null=True, on_delete=models.PROTECT, related_name="+")
    sending_facility = models.CharField(max_length=100)
    placer_number = models.CharField(max_length=80, blank=True)
    filler_number = models.CharField(max_length=80, blank=True)
    accession = models.CharField(max_length=80, blank=True)
    code_key = models.CharField(max_length=140, help_text="OBX-3 as 'coding system|identifier'.")
    sub_id = models.CharField(max_length=20, blank=True)
    set_id = models.CharField(max_length=10, blank=True)
    coded = models.JSONField(default=dict, help_text="OBX-3: the code as received, its LOINC, the map used.")
    loinc = models.CharField(max_length=20, blank=True)
    value_type = models.CharField(max_length=3)
    value_quantity = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    value_comparator = models.CharField(max_length=2, blank=True)
    value_high = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    value_separator = models.CharField(max_length=1, blank=True)
    value_string = models.TextField(blank=True)
    value_coded = models.JSONField(null=True, blank=True)
    unit = models.CharField(max_length=100, blank=True, help_text="OBX-6 as received (text).")
    unit_ucum = models.CharField(max_length=100, blank=True, help_text="The UCUM code, when the unit is valid UCUM.")
    reference_range = models.CharField(max_length=200, blank=True)
    abnormal_flags = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    interpretation = models.JSONField(default=list, blank=True, help_text="OBX-8 through table 0078.")
    status = models.CharField(max_length=20, help_text="FHIR Observation.status (from OBX-11, table 0085).")
    v2_status = models.CharField(max_length=2, blank=True)
    effective_at = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    comments = models.JSONField(default=list, blank=True)
    performer = models.JSONField(
        default=dict, blank=True, help_text="OBX-23/24: the laboratory that performed it (name, identifier, address)."
    )
    version = models.PositiveIntegerField(default=1)
    content_sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=100, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="MSH-7 of the message of the current version.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["report_id", "set_id"]
        constraints = [
            # The report is the result's key up to the OBR (tenant, sending facility, placer,
            # filler, accession, OBR-4); OBX-3 and OBX-4 tell its results apart.
            models.UniqueConstraint(fields=["report", "code_key", "sub_id"], name="observation_business_key"),
        ]
        indexes = [
            models.Index(fields=["tenant", "patient"], name="observation_by_patient"),
            # FHIR search parameters (interop/fhir): encounter, code, date, _lastUpdated.
            models.Index(fields=["tenant", "encounter"], name="observation_by_encounter"),
            models.Index(fields=["tenant", "loinc", "effective_at"], name="observation_by_code"),
            models.Index(fields=["tenant", "effective_at"], name="observation_by_date"),
            models.Index(fields=["tenant", "updated_at"], name="observation_by_last_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.code_key} {self.value_string or self.value_quantity}"


class ResultRevision(TenantScopedModel):
    """A version of a report or observation that is no longer current (the prior version kept
    when a later status or a correction replaced it), or one that arrived too late to apply (a
    preliminary after the final: recorded, not applied)."""

    class Kind(models.TextChoices):
        REPORT = "report"
        OBSERVATION = "observation"

    class Outcome(models.TextChoices):
        SUPERSEDED = "superseded", "Replaced by a later version"
        STALE = "stale", "Arrived after a later version; not applied"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    object_id = models.UUIDField()
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=20)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    content = models.JSONField()
    source = models.CharField(max_length=100, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["object_id", "version", "recorded_at"]
        indexes = [models.Index(fields=["object_id", "version"], name="revision_by_object")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} v{self.version} ({self.outcome})"


class HeldResult(TenantScopedModel):
    """A result whose patient or order is not known (yet). Never a shadow patient: the message
    waits here, and is charted when the patient is registered or the order appears, or when an
    admin files it."""

    class Status(models.TextChoices):
        HELD = "held"
        RELEASED = "released", "Charted automatically"
        FILED = "filed", "Filed by an admin"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=100, help_text="What carried it, e.g. hl7:<message id>.")
    reason = models.CharField(max_length=30)
    detail = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    patient_keys = ArrayField(models.CharField(max_length=200), default=list, help_text="'authority|value' of PID-3.")
    placer_numbers = ArrayField(models.CharField(max_length=80), default=list)
    filler_numbers = ArrayField(models.CharField(max_length=80), default=list)
    accessions = ArrayField(models.CharField(max_length=80), default=list)
    visit_number = models.CharField(max_length=40, blank=True)
    payload = models.JSONField(help_text="The result as parsed (it names the patient: not for logs).")
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    last_tried_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=100, blank=True)
    outcome = models.JSONField(null=True, blank=True)
    content_sha256 = models.CharField(max_length=64, help_text="Of the parsed result: a redelivery finds this row.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "content_sha256"], name="held_result_once_per_content"),
        ]
        indexes = [
            GinIndex(fields=["patient_keys"], name="held_by_patient_key", condition=Q(status="held")),
            GinIndex(fields=["placer_numbers"], name="held_by_placer", condition=Q(status="held")),
            GinIndex(fields=["filler_numbers"], name="held_by_filler", condition=Q(status="held")),
        ]

    def __str__(self) -> str:
        return f"{self.source} ({self.reason})"
