from django.db import models


class ProbeEffect(models.Model):
    """One row per run of a probe subscriber's effect; no unique constraint, so a duplicate run
    shows up as a second row."""

    event_id = models.UUIDField()
    subscriber = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)


class ProbeChart(models.Model):
    """A clinical row of some app above identity that references a patient (merges re-point it)."""

    patient = models.ForeignKey("identity.Patient", on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
