from django.db import models


class ProbeEffect(models.Model):
    """One row per run of a probe subscriber's effect; no unique constraint, so a duplicate run
    shows up as a second row."""

    event_id = models.UUIDField()
    subscriber = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
