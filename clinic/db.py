"""Model building blocks for the apps above the kernel (public: apps may import this module)."""

from __future__ import annotations

from django.db import models


class TenantScopedModel(models.Model):
    """A row owned by one tenant. The foreign key adds no reverse accessor on Tenant, so the
    kernel does not learn about the apps above it."""

    tenant = models.ForeignKey("clinic.Tenant", on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True
