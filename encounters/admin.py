"""Django admin of encounters: practitioners and schedules, slots, appointments, encounters and
their timelines."""

from __future__ import annotations

from django.contrib import admin

from clinic.admin import ReadOnlyAdminMixin, TenantScopedAdmin, TenantScopedInline
from encounters.models import Appointment, Encounter, Practitioner, ScheduleTemplate, Slot, TimelineEntry


class ScheduleTemplateInline(TenantScopedInline, admin.TabularInline):  # type: ignore[type-arg]
    model = ScheduleTemplate
    extra = 0
    fields = ("site", "weekday", "start_time", "end_time", "slot_minutes", "valid_from", "valid_to")


@admin.register(Practitioner)
class PractitionerAdmin(TenantScopedAdmin):
    list_display = ["name", "active", "tenant"]
    list_filter = ["active", "tenant"]
    search_fields = ["name"]
    inlines = [ScheduleTemplateInline]


@admin.register(Slot)
class SlotAdmin(TenantScopedAdmin):
    list_display = ["start_at", "end_at", "practitioner", "site", "blocked"]
    list_filter = ["blocked", "practitioner", "tenant"]
    date_hierarchy = "start_at"


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["id", "slot", "patient", "status", "created_at"]
    list_filter = ["status", "tenant"]
    search_fields = ["=id", "=patient__id"]


class TimelineInline(ReadOnlyAdminMixin, TenantScopedInline, admin.TabularInline):  # type: ignore[type-arg]
    model = TimelineEntry
    extra = 0
    fields = ("recorded_at", "type", "summary", "reference", "event_id")
    readonly_fields = ("recorded_at", "type", "summary", "reference", "event_id")
    ordering = ("recorded_at", "id")


@admin.register(Encounter)
class EncounterAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["visit_number", "patient", "site", "practitioner", "status", "period_start", "period_end"]
    list_filter = ["status", "tenant"]
    search_fields = ["=visit_number", "=id", "=patient__id"]
    inlines = [TimelineInline]
