"""Django admin of billing: the fee schedule and charge items."""

from __future__ import annotations

from django.contrib import admin

from billing.models import ChargeItem, FeeScheduleEntry
from clinic.admin import ReadOnlyAdminMixin, TenantScopedAdmin


@admin.register(FeeScheduleEntry)
class FeeScheduleEntryAdmin(TenantScopedAdmin):
    list_display = ["code", "display", "price", "currency", "valid_from", "valid_to", "tenant"]
    list_filter = ["tenant", "currency"]
    search_fields = ["code", "display"]


@admin.register(ChargeItem)
class ChargeItemAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "code",
        "display",
        "quantity",
        "unit_price",
        "currency",
        "status",
        "encounter",
        "source",
        "occurred_at",
    ]
    list_filter = ["status", "tenant"]
    search_fields = ["=source", "=code", "=encounter__id"]
