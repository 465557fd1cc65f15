"""Django admin of interop: lab partners, the outbound message log and the store of inbound
messages (search, and reprocess after fixing the cause)."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from clinic.admin import ReadOnlyAdminMixin, TenantScopedAdmin
from interop.models import InboundMessage, LabPartner, OutboundMessage
from interop.v2 import intake, outbound_orders
from interop.v2.order_profiles import DEFAULT_PROFILE, profiles

PREVIEW_BYTES = 64 * 1024  # a 16 MB message would make the page unusable; the start is what helps


class LabPartnerForm(forms.ModelForm):  # type: ignore[type-arg]
    """The outbound profile is one of the profile files (interop/v2/profiles/, ADR 0010)."""

    outbound_profile = forms.ChoiceField(choices=[])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["outbound_profile"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(name, f"{name}: {p.message_type} v{p.version}") for name, p in profiles().items()]
        field.initial = DEFAULT_PROFILE

    class Meta:
        model = LabPartner
        fields = [
            "tenant",
            "name",
            "application",
            "facility",
            "mllp_host",
            "mllp_port",
            "active",
            "charset",
            "unsolicited_results",
            "outbound_profile",
        ]


@admin.register(LabPartner)
class LabPartnerAdmin(TenantScopedAdmin):
    form = LabPartnerForm
    list_display = [
        "name",
        "facility",
        "application",
        "mllp_host",
        "mllp_port",
        "charset",
        "unsolicited_results",
        "active",
        "tenant",
    ]
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
        queued = outbound_orders.send_now(message_ids=list(queryset.values_list("pk", flat=True)))
        messages.success(request, f"Queued {queued} message(s) for sending.")


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Every message received. Rows of an unknown sender have no tenant: only platform operators
    (superusers) see them, since ``TenantScopedAdmin`` filters a tenant admin's rows by tenant."""

    list_display = [
        "id",
        "received_at",
        "control_id",
        "message_type",
        "sending_facility",
        "transport",
        "status",
        "ack_code",
        "patient_id",
        "tenant",
    ]
    list_filter = ["status", "ack_code", "message_type", "transport", "partner", "tenant"]
    # The search is ``get_search_results``; this only turns the search box on.
    search_fields = ["=control_id"]
    search_help_text = "Control ID (MSH-10), accession, placer number, patient or held-result ID, or message ID."
    exclude = ["raw"]  # bytes do not render; the decoded preview below does
    readonly_fields = ["preview"]
    actions = ["reprocess"]
    date_hierarchy = "received_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[InboundMessage]:
        return super().get_queryset(request).select_related("tenant", "partner").defer("raw")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[InboundMessage], search_term: str
    ) -> tuple[QuerySet[InboundMessage], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = (
            Q(control_id=term)
            | Q(ack_control_id=term)
            | Q(accessions__contains=[term])
            | Q(placer_numbers__contains=[term])
        )
        try:
            key = UUID(term)
        except ValueError:
            pass
        else:
            condition |= Q(patient_id=key) | Q(held_id=key)
        if term.isdigit():
            condition |= Q(pk=int(term))
        return queryset.filter(condition), False

    @admin.display(description="Message")
    def preview(self, obj: InboundMessage) -> Any:
        raw = bytes(obj.raw or b"")
        shown = raw[:PREVIEW_BYTES]
        try:
            text = shown.decode("utf-8")
        except UnicodeDecodeError:
            text = shown.decode("latin-1")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        more = f"\n… ({len(raw) - len(shown)} more bytes)" if len(raw) > len(shown) else ""
        return format_html('<pre style="white-space: pre-wrap">{}{}</pre>', text, more)

    @admin.action(description="Reprocess the selected messages (as new deliveries)")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[InboundMessage]) -> None:
        codes: Counter[str] = Counter()
        for message_id in queryset.values_list("pk", flat=True):
            receipt = intake.reprocess(message_id=message_id)
            codes[f"{receipt.code} {receipt.status}"] += 1
        summary = ", ".join(f"{n} {what}" for what, n in sorted(codes.items()))
        messages.info(request, f"Reprocessed {sum(codes.values())} message(s): {summary or 'none'}.")
