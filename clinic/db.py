"""Model building blocks for the apps above the kernel (public: apps may import this module)."""

from __future__ import annotations

from typing import Any

from django.db import models


class TenantScopedModel(models.Model):
    """A row owned by one tenant. The foreign key adds no reverse accessor on Tenant, so the
    kernel does not learn about the apps above it."""

    tenant = models.ForeignKey("clinic.Tenant", on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True


def prepared_cursor() -> Any:
    """A cursor of Django's own connection (so: the current transaction) that binds parameters
    server-side, so PostgreSQL prepares a statement run again and again (a lab result's dozen
    statements) instead of parsing and planning it every time. Use it for fixed SQL on hot
    paths; ``%s`` placeholders as usual; cast empty arrays and JSON text explicitly."""
    import psycopg
    from django.db import connection

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)
