"""Django admin of orders."""

from __future__ import annotations

from django.contrib import admin

from clinic.admin import ReadOnlyAdminMixin, TenantScopedAdmin
from orders.models import ServiceRequest


@admin.register(ServiceRequest)
class ServiceRequestAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["placer_number", "code", "display", "priority", "status", "version", "encounter", "ordered_at"]
    list_filter = ["status", "priority", "tenant"]
    search_fields = ["=placer_number", "=code", "=encounter__id"]
