"""Terminology models: code systems and concepts, versioned concept maps with effective-dated
entries, and the work list of codes nobody has mapped yet."""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Func, Q, Value


class CodeSystem(models.Model):
    """A code system by its canonical URI: LOINC, SNOMED CT, UCUM, the HL7 v2 tables, or a local
    one (a tenant's lab catalogue, a lab partner's codes). ``tenant`` empty: global."""

    tenant = models.ForeignKey("clinic.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    uri = models.CharField(max_length=255)
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=50, blank=True)
    v2_identifier = models.CharField(
        max_length=20, blank=True, help_text="HL7 table 0396 name used in CWE-3 (LN, SCT, UCUM, HL70078...)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uri"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "uri"], name="code_system_unique", nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return self.uri


class Concept(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        RETIRED = "retired"

    code_system = models.ForeignKey(CodeSystem, on_delete=models.CASCADE, related_name="concepts")
    code = models.CharField(max_length=100)
    display = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    effective_from = models.DateField(null=True, blank=True)
    effective_to = models.DateField(null=True, blank=True, help_text="Exclusive: the first day it no longer applies.")
    updated_at = models.DateTimeField(auto_now=True, db_index=True)  # translation caches watch it

    class Meta:
        ordering = ["code_system_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["code_system", "code"], name="concept_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code_system_id}|{self.code}"


class ConceptMap(models.Model):
    """A named map (e.g. ``v2-0078``, ``lab-catalogue-to-loinc``); its content lives in versions."""

    tenant = models.ForeignKey("clinic.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    name = models.SlugField(max_length=100)
    url = models.CharField(max_length=255, help_text="Canonical URL of the FHIR ConceptMap.")
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="concept_map_unique", nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return self.name


class ConceptMapVersion(models.Model):
    """One version of a map. A draft is edited; once published it never changes, and it applies
    to clinical dates from its publication day on (earlier dates keep the version they had)."""

    concept_map = models.ForeignKey(ConceptMap, on_delete=models.PROTECT, related_name="versions")
    label = models.CharField(max_length=50)
    published_at = models.DateTimeField(null=True, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True, help_text="Digest of the file it was loaded from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["concept_map_id", "published_at"]
        constraints = [
            models.UniqueConstraint(fields=["concept_map", "label"], name="concept_map_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.concept_map_id}@{self.label}"


class ConceptMapEntry(models.Model):
    """source system|code → target system|code, valid from a date until a date (exclusive)."""

    class Equivalence(models.TextChoices):
        # FHIR R4 ConceptMapEquivalence (http://hl7.org/fhir/R4/valueset-concept-map-equivalence.html)
        RELATEDTO = "relatedto"
        EQUIVALENT = "equivalent"
        EQUAL = "equal"
        WIDER = "wider"
        SUBSUMES = "subsumes"
        NARROWER = "narrower"
        SPECIALIZES = "specializes"
        INEXACT = "inexact"
        UNMATCHED = "unmatched"
        DISJOINT = "disjoint"

    version = models.ForeignKey(ConceptMapVersion, on_delete=models.CASCADE, related_name="entries")
    source_system = models.CharField(max_length=255)
    source_code = models.CharField(max_length=100)
    source_display = models.CharField(max_length=500, blank=True)
    target_system = models.CharField(max_length=255)
    target_code = models.CharField(max_length=100)
    target_display = models.CharField(max_length=500, blank=True)
    equivalence = models.CharField(max_length=20, choices=Equivalence.choices, default=Equivalence.EQUIVALENT)
    comment = models.TextField(blank=True)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True, help_text="Exclusive; empty: open-ended.")

    class Meta:
        ordering = ["version_id", "source_system", "source_code", "valid_from"]
        verbose_name_plural = "concept map entries"
        indexes = [
            models.Index(fields=["source_system", "source_code", "target_system"], name="concept_map_entry_lookup"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")), name="entry_valid_to_after_from"
            ),
            # Within one version, one source code has one target per target system on any day.
            ExclusionConstraint(
                name="entry_validity_no_overlap",
                expressions=[
                    ("version", RangeOperators.EQUAL),
                    ("source_system", RangeOperators.EQUAL),
                    ("source_code", RangeOperators.EQUAL),
                    ("target_system", RangeOperators.EQUAL),
                    (Func(F("valid_from"), F("valid_to"), Value("[)"), function="daterange"), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_system}|{self.source_code} → {self.target_system}|{self.target_code}"


class UnmappedCode(models.Model):
    """A code received that no map translates (to ``target_system``), per tenant: the work list."""

    tenant = models.ForeignKey("clinic.Tenant", on_delete=models.PROTECT, related_name="+")
    source_system = models.CharField(max_length=255)
    code = models.CharField(max_length=100)
    target_system = models.CharField(max_length=255)
    display = models.CharField(max_length=500, blank=True, help_text="As received.")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    count = models.PositiveIntegerField(default=1)
    last_reference = models.CharField(max_length=200, blank=True, help_text="What carried it, e.g. a message ID.")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_system", "code", "target_system"], name="unmapped_code_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_system}|{self.code}"
