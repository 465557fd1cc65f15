"""Django admin of results: reports and observations (read-only), their prior versions, and
the work queue of held results with filing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from clinic.admin import ReadOnlyAdminMixin, TenantScopedAdmin
from clinic.contracts import DomainError
from orders.facade import find_order
from results import services
from results.models import DiagnosticReport, HeldResult, Observation, ResultRevision


@admin.register(DiagnosticReport)
class DiagnosticReportAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["id", "code_key", "status", "accession", "placer_number", "version", "patient_id", "updated_at"]
    list_filter = ["status", "tenant"]
    search_fields = ["=accession", "=placer_number", "=filler_number", "=patient__id", "=id"]


@admin.register(Observation)
class ObservationAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["id", "code_key", "value_quantity", "value_string", "unit", "status", "version", "accession"]
    list_filter = ["status", "value_type", "tenant"]
    search_fields = ["=accession", "=placer_number", "=report__id", "=patient__id", "=id"]


@admin.register(ResultRevision)
class ResultRevisionAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["object_id", "kind", "version", "status", "outcome", "source", "recorded_at"]
    list_filter = ["kind", "outcome", "tenant"]
    search_fields = ["=object_id", "=source"]


@admin.register(HeldResult)
class HeldResultAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "source",
        "reason",
        "status",
        "placer_numbers",
        "accessions",
        "attempts",
        "created_at",
        "released_at",
    ]
    list_filter = ["status", "reason", "tenant"]
    search_fields = ["=source", "accessions", "placer_numbers"]
    exclude = ["payload"]  # it names the patient; the file view shows what an admin needs
    actions = ["retry_lookup"]

    def get_urls(self) -> list[URLPattern]:
        return [
            path("<uuid:held_id>/file/", self.admin_site.admin_view(self.file_view), name="results_heldresult_file"),
            *super().get_urls(),
        ]

    @admin.action(description="Retry the patient and order lookup now")
    def retry_lookup(self, request: HttpRequest, queryset: QuerySet[HeldResult]) -> None:
        held = list(queryset.filter(status=HeldResult.Status.HELD).values_list("tenant_id", "pk"))
        tried = services.retry_held_lookups(held_results=held, actor=f"user:{request.user.pk}")
        messages.info(request, f"{tried.charted} result(s) charted; {tried.still_held} still cannot be matched.")

    def file_view(self, request: HttpRequest, held_id: UUID) -> HttpResponse:
        held = self.get_object(request, str(held_id))
        errors: list[str] = []
        patient = request.POST.get("patient", "").strip()
        order = request.POST.get("order", "").strip()
        if request.method == "POST" and "confirm" in request.POST:
            try:
                patient_id = UUID(patient) if patient else None
            except ValueError:
                patient_id = None
                errors.append("The patient ID is not a UUID.")
            order_id = None
            if order and not errors:
                found = find_order(tenant_id=held.tenant_id, placer_number=order)
                if found is None:
                    errors.append(f"No order with placer number {order!r}.")
                else:
                    order_id = found.id
            if not errors:
                try:
                    outcome = services.file_held_result(
                        tenant_id=held.tenant_id,
                        held_id=held.pk,
                        actor=f"user:{request.user.pk}",
                        patient_id=patient_id,
                        order_id=order_id,
                    )
                except DomainError as exc:
                    errors.append(exc.describe(separator=" "))
                else:
                    messages.success(request, f"Filed: {outcome.detail}")
                    return HttpResponseRedirect(reverse("admin:results_heldresult_changelist"))
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "File a held result",
            "held": held,
            "patient": patient,
            "order": order,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/results/heldresult/file.html", context)
