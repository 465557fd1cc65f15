"""Django admin of interop: lab partners and the outbound message log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from clinic.admin import ReadOnlyAdminMixin, TenantScopedAdmin
from interop import services
from interop.models import LabPartner, OutboundMessage


@admin.register(LabPartner)
class LabPartnerAdmin(TenantScopedAdmin):
    list_display = ["name", "facility", "application", "mllp_host", "mllp_port", "active", "tenant"]
    list_filter = ["tenant", "active"]
    search_fields = ["name", "facility", "application"]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "control_id",
        "message_type",
        "order_control",
        "partner",
        "order",
        "order_version",
        "status",
        "attempts",
        "ack_code",
        "created_at",
    ]
    list_filter = ["status", "order_control", "partner", "tenant"]
    search_fields = ["=control_id", "=order__placer_number", "=order__id"]
    actions = ["send_now"]

    @admin.action(description="Send the selected pending messages again now")
    def send_now(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        pending = list(queryset.filter(status=OutboundMessage.Status.PENDING).values_list("pk", flat=True))
        OutboundMessage.objects.filter(pk__in=pending).update(next_attempt_at=timezone.now())
        for message_id in pending:
            services.dispatch(message_id=message_id)
        messages.success(request, f"Queued {len(pending)} message(s) for sending.")
