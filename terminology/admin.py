"""Django admin of terminology: code systems and concepts, concept maps and their versions
(entries inline, publish action), and the unmapped work list with a "map it" action.

Tenant admins see global content read-only and their tenant's content editable."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from clinic.admin import ReadOnlyAdminMixin, TenantScopedAdmin, TenantScopedInline, admin_tenant_ids
from clinic.contracts import DomainError, InvalidInput
from terminology import csvformat, services
from terminology.models import CodeSystem, Concept, ConceptMap, ConceptMapEntry, ConceptMapVersion, UnmappedCode


class SharedContentAdmin(TenantScopedAdmin):
    """Rows that are global (no tenant) or a tenant's: global ones are read-only for tenant
    admins, and only operators create them."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = admin.ModelAdmin.get_queryset(self, request)
        ids = admin_tenant_ids(request)
        if ids is None:
            return qs
        path = self.tenant_path.removesuffix("_id")
        return qs.filter(Q(**{f"{path}__isnull": True}) | Q(**{f"{self.tenant_path}__in": ids}))

    def _owns(self, request: HttpRequest, obj: Any) -> bool:
        ids = admin_tenant_ids(request)
        if ids is None:
            return True
        owner = obj
        for part in self.tenant_path.split("__")[:-1]:
            owner = getattr(owner, part)
        return getattr(owner, self.tenant_path.split("__")[-1]) in ids

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or self._owns(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # coded history refers to these: never delete


@admin.register(CodeSystem)
class CodeSystemAdmin(SharedContentAdmin):
    list_display = ["uri", "name", "v2_identifier", "version", "tenant"]
    search_fields = ["uri", "name", "v2_identifier"]
    list_filter = ["tenant"]


@admin.register(Concept)
class ConceptAdmin(SharedContentAdmin):
    tenant_path = "code_system__tenant_id"
    list_display = ["code", "display", "code_system", "status", "effective_from", "effective_to"]
    list_filter = ["status", "code_system"]
    search_fields = ["=code", "display"]


class ConceptMapVersionInline(ReadOnlyAdminMixin, TenantScopedInline, admin.TabularInline):  # type: ignore[type-arg]
    model = ConceptMapVersion
    extra = 0
    fields = ("label", "published_at", "created_at")
    readonly_fields = ("label", "published_at", "created_at")
    show_change_link = True


@admin.register(ConceptMap)
class ConceptMapAdmin(SharedContentAdmin):
    list_display = ["name", "title", "url", "tenant", "created_at"]
    search_fields = ["name", "title", "url"]
    list_filter = ["tenant"]
    inlines = [ConceptMapVersionInline]


class EntryFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """Overlapping validities are a form error (the database would refuse them with a 500)."""

    def clean(self) -> None:
        super().clean()
        rows = []
        for index, form in enumerate(self.forms, start=1):
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("valid_from"):
                continue
            rows.append(
                csvformat.Row(
                    line=index,
                    source_system=data["source_system"],
                    source_code=data["source_code"],
                    source_display="",
                    target_system=data["target_system"],
                    target_code=data["target_code"],
                    target_display="",
                    equivalence=data.get("equivalence", ""),
                    valid_from=data["valid_from"],
                    valid_to=data.get("valid_to"),
                    comment="",
                )
            )
        problems = csvformat.overlaps(rows)
        if problems:
            raise ValidationError([f"Entry {p.field.removeprefix('line ')}: {p.message}" for p in problems])


class ConceptMapEntryInline(TenantScopedInline, admin.TabularInline):  # type: ignore[type-arg]
    model = ConceptMapEntry
    formset = EntryFormSet
    extra = 0
    fields = (
        "source_system", "source_code", "source_display", "target_system", "target_code", "target_display",
        "equivalence", "valid_from", "valid_to", "comment",
    )  # fmt: skip

    def _editable(self, obj: Any) -> bool:
        return obj is not None and obj.published_at is None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj)


INLINE_ENTRY_LIMIT = 500


@admin.register(ConceptMapVersion)
class ConceptMapVersionAdmin(SharedContentAdmin):
    tenant_path = "concept_map__tenant_id"
    list_display = ["concept_map", "label", "published_at", "entry_count", "created_at"]
    list_filter = [("published_at", admin.EmptyFieldListFilter), "concept_map"]
    search_fields = ["label", "concept_map__name"]
    readonly_fields = ["published_at", "source_sha256", "created_at", "all_entries"]
    actions = ["publish"]

    @admin.display(description="Entries")
    def entry_count(self, obj: ConceptMapVersion) -> int:
        return obj.entries.count()

    @admin.display(description="All entries")
    def all_entries(self, obj: ConceptMapVersion) -> str:
        if obj._state.adding:
            return "-"
        url = reverse("admin:terminology_conceptmapentry_changelist") + f"?version__id__exact={obj.pk}"
        return format_html('<a href="{}">{} entries</a>', url, obj.entries.count())

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        # A large version is browsed in the entries list, not inline.
        if obj is not None and obj.entries.count() > INLINE_ENTRY_LIMIT:
            return []
        return [ConceptMapEntryInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.published_at is not None:
            fields += ["concept_map", "label"]  # a published version never changes
        return fields

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        ids = admin_tenant_ids(request)
        if db_field.name == "concept_map" and ids is not None:
            kwargs["queryset"] = ConceptMap.objects.filter(tenant_id__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.action(description="Publish the selected draft versions")
    def publish(self, request: HttpRequest, queryset: QuerySet[ConceptMapVersion]) -> None:
        owned = [v.pk for v in queryset.select_related("concept_map") if self._owns(request, v)]
        published = services.publish_versions(version_ids=owned)
        messages.success(request, f"Published {published} version(s); translations use them from today.")


@admin.register(ConceptMapEntry)
class ConceptMapEntryAdmin(ReadOnlyAdminMixin, SharedContentAdmin):
    tenant_path = "version__concept_map__tenant_id"
    list_display = [
        "source_system",
        "source_code",
        "target_system",
        "target_code",
        "equivalence",
        "valid_from",
        "valid_to",
        "version",
    ]
    list_filter = ["version__concept_map", "equivalence"]
    search_fields = ["=source_code", "=target_code"]


@admin.register(UnmappedCode)
class UnmappedCodeAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "source_system",
        "code",
        "display",
        "target_system",
        "count",
        "last_seen_at",
        "last_reference",
        "resolved_at",
    ]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter), "target_system", "tenant"]
    search_fields = ["=code", "display"]
    actions = ["map_it"]

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:unmapped_id>/map/", self.admin_site.admin_view(self.map_view), name="terminology_unmappedcode_map"
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Map it…")
    def map_it(self, request: HttpRequest, queryset: QuerySet[UnmappedCode]) -> HttpResponse | None:
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            messages.error(request, "Select one code to map.")
            return None
        return HttpResponseRedirect(reverse("admin:terminology_unmappedcode_map", args=[ids[0]]))

    def map_view(self, request: HttpRequest, unmapped_id: int) -> HttpResponse:
        unmapped = self.get_queryset(request).filter(pk=unmapped_id).first()
        if unmapped is None:
            raise Http404("No such code.")
        maps = ConceptMap.objects.filter(Q(tenant_id=unmapped.tenant_id) | Q(tenant__isnull=True)).order_by("name")
        if not request.user.is_superuser:
            maps = maps.filter(tenant_id=unmapped.tenant_id)  # global maps are the operators'
        errors: list[str] = []
        form = request.POST if request.method == "POST" else {}
        if request.method == "POST":
            try:
                valid_from = date.fromisoformat(form["valid_from"]) if form.get("valid_from") else None
                map_id = int(form.get("concept_map", "0"))
                if not maps.filter(pk=map_id).exists():
                    raise InvalidInput("Choose one of the maps offered.")
                version = services.map_unmapped(
                    unmapped_id=unmapped.pk,
                    concept_map_id=map_id,
                    target_code=form.get("target_code", ""),
                    target_display=form.get("target_display", ""),
                    equivalence=form.get("equivalence", "equivalent"),
                    valid_from=valid_from,
                    actor=f"user:{request.user.pk}",
                )
            except ValueError:
                errors.append("Valid from must be a date (YYYY-MM-DD).")
            except IntegrityError:
                errors.append("Someone changed this map at the same moment; try again.")
            except DomainError as exc:
                errors.append(exc.describe(separator=" "))
            else:
                messages.success(request, f"Mapped in {version.concept_map.name} version {version.label} (published).")
                return HttpResponseRedirect(reverse("admin:terminology_unmappedcode_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Map a code",
            "unmapped": unmapped,
            "maps": maps,
            "equivalences": [e.value for e in ConceptMapEntry.Equivalence],
            "errors": errors,
            "form": form,
        }
        return TemplateResponse(request, "admin/terminology/unmappedcode/map_it.html", context)
