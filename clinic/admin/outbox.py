"""Admin of the event outbox: events (search by event, encounter or patient ID; dispatch again)
and their per-subscriber deliveries, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from clinic import outbox
from clinic.admin.kit import ReadOnlyAdminMixin, TenantScopedAdmin, TenantScopedInline
from clinic.models import EventDelivery, OutboxEvent


class UndeliveredFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("undelivered", "Undelivered"), ("delivered", "Delivered")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "undelivered":
            return queryset.filter(delivered_at__isnull=True)
        if self.value() == "delivered":
            return queryset.filter(delivered_at__isnull=False)
        return queryset


class EventDeliveryInline(ReadOnlyAdminMixin, TenantScopedInline, admin.TabularInline):  # type: ignore[type-arg]
    model = EventDelivery
    extra = 0
    fields = ("subscriber", "attempts", "delivered_at", "last_attempt_at", "last_error")
    readonly_fields = ("subscriber", "attempts", "delivered_at", "last_attempt_at", "last_error")


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "id",
        "type",
        "tenant",
        "encounter_id",
        "patient_id",
        "recorded_at",
        "dispatch_count",
        "delivered_at",
    ]
    list_filter = [UndeliveredFilter, "type", "tenant"]
    search_fields = ["=type"]
    date_hierarchy = "recorded_at"
    inlines = [EventDeliveryInline]
    actions = ["dispatch_now"]
    readonly_fields = tuple(f.name for f in OutboxEvent._meta.fields)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        # Support quotes an event, encounter or patient ID: match any of them exactly.
        import uuid

        try:
            value = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        from django.db.models import Q

        return queryset.filter(Q(pk=value) | Q(encounter_id=value) | Q(patient_id=value)), False

    @admin.action(description="Dispatch the selected undelivered events again now")
    def dispatch_now(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        sent, undelivered = outbox.dispatch_undelivered(event_ids=list(queryset.values_list("pk", flat=True)))
        level = messages.SUCCESS if sent == undelivered else messages.ERROR
        messages.add_message(request, level, f"Dispatched {sent} of {undelivered} undelivered events.")


@admin.register(EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    tenant_path = "event__tenant_id"
    list_display = ["event", "subscriber", "attempts", "delivered_at", "last_attempt_at"]
    list_filter = ["subscriber", ("delivered_at", admin.EmptyFieldListFilter)]
    search_fields = ["=subscriber"]
