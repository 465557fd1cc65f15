"""Django admin of identity: identifier systems, patients (with identifiers), merge with a
preview and a confirmation, and the merge ledger."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from clinic.admin import ReadOnlyAdminMixin, TenantScopedAdmin, TenantScopedInline
from clinic.contracts import DomainError
from identity import selectors, services
from identity.models import IdentifierSystem, MergeLedgerEntry, MergeRecord, Patient, PatientIdentifier


@admin.register(IdentifierSystem)
class IdentifierSystemAdmin(TenantScopedAdmin):
    list_display = ["name", "uri", "assigning_authority", "validator", "authoritative", "mints", "tenant"]
    list_filter = ["tenant", "validator", "authoritative"]
    search_fields = ["uri", "assigning_authority", "name"]


class PatientIdentifierInline(TenantScopedInline, admin.TabularInline):  # type: ignore[type-arg]
    model = PatientIdentifier
    extra = 0
    fields = ["system", "value", "use", "created_at"]
    readonly_fields = ["system", "value", "use", "created_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # identifiers are added by registration and moved by merges only


@admin.register(Patient)
class PatientAdmin(TenantScopedAdmin):
    list_display = ["id", "family", "given_names", "birth_date", "gender", "active", "replaced_by", "created_at"]
    list_filter = ["active", "gender", "tenant"]
    search_fields = ["=id", "family", "=identifiers__value"]
    inlines = [PatientIdentifierInline]
    readonly_fields = ["id", "active", "replaced_by", "version", "created_at", "updated_at"]
    fields = [
        "id",
        "family",
        "given",
        "birth_date",
        "gender",
        "telecom",
        "address",
        "other_names",
        *readonly_fields[1:],
    ]
    actions = ["merge_selected"]

    @admin.display(description="Given names")
    def given_names(self, obj: Patient) -> str:
        return " ".join(obj.given)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # through registration (API, HL7), which checks identifiers and duplicates

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # records are merged, never deleted

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            obj.version += 1  # readers (FHIR ETags later) must see that the record changed
        super().save_model(request, obj, form, change)

    def get_urls(self) -> list[URLPattern]:
        return [
            path("merge/", self.admin_site.admin_view(self.merge_view), name="identity_patient_merge"),
            *super().get_urls(),
        ]

    @admin.action(description="Merge the two selected patients…")
    def merge_selected(self, request: HttpRequest, queryset: QuerySet[Patient]) -> HttpResponse | None:
        ids = list(queryset.values_list("pk", flat=True)[:3])
        if len(ids) != 2:
            messages.error(request, "Select exactly two patients to merge.")
            return None
        return HttpResponseRedirect(reverse("admin:identity_patient_merge") + "?ids=" + ",".join(str(i) for i in ids))

    def merge_view(self, request: HttpRequest) -> HttpResponse:
        raw_ids = (request.POST.get("ids") or request.GET.get("ids") or "").split(",")
        try:
            ids = [UUID(i) for i in raw_ids]
        except ValueError:
            raise Http404("No such patients.") from None
        patients = list(self.get_queryset(request).filter(pk__in=ids, active=True))
        if len(ids) != 2 or len(patients) != 2:
            raise Http404("No such patients.")
        tenant_id = patients[0].tenant_id
        errors: list[str] = []
        target = request.POST.get("target", "")
        reason = request.POST.get("reason", "")
        if request.method == "POST" and "confirm" in request.POST:
            source_id = next((p.pk for p in patients if str(p.pk) != target), None)
            if target not in {str(p.pk) for p in patients} or source_id is None:
                errors.append("Choose the record to keep.")
            else:
                try:
                    outcome = services.merge_patients(
                        tenant_id=tenant_id,
                        source_id=source_id,
                        target_id=UUID(target),
                        reason=reason,
                        actor=f"user:{request.user.pk}",
                    )
                except DomainError as exc:
                    errors.append(exc.describe(separator=" "))
                else:
                    messages.success(
                        request,
                        f"Merged {outcome.source.id} into {outcome.target.id}: {len(outcome.moved)} rows moved.",
                    )
                    return HttpResponseRedirect(reverse("admin:identity_patient_change", args=[outcome.target.id]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Merge patients",
            "ids": ",".join(str(i) for i in ids),
            "patients": [
                {
                    "record": selectors.get_patient(tenant_id=tenant_id, patient_id=p.pk),
                    "preview": selectors.merge_preview(tenant_id=tenant_id, source_id=p.pk),
                }
                for p in patients
            ],
            "target": target,
            "reason": reason,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/identity/patient/merge.html", context)


class MergeLedgerInline(ReadOnlyAdminMixin, TenantScopedInline, admin.TabularInline):  # type: ignore[type-arg]
    model = MergeLedgerEntry
    extra = 0
    fields = ("kind", "model", "object_id", "field", "previous")
    readonly_fields = ("kind", "model", "object_id", "field", "previous")


@admin.register(MergeRecord)
class MergeRecordAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["id", "source", "target", "merged_at", "merged_by", "unmerged_at", "tenant"]
    list_filter = ["tenant", ("unmerged_at", admin.EmptyFieldListFilter)]
    search_fields = ["=id", "=source__id", "=target__id"]
    inlines = [MergeLedgerInline]
    readonly_fields = tuple(f.name for f in MergeRecord._meta.fields)
