"""Django admin of the kernel, and ``TenantScopedAdmin``, the base of every tenant-owned model's
admin (public to the ``admin`` modules of other apps).

Platform operators (superusers) see every tenant. A tenant admin (staff, with the admin role in
a tenant) sees only their tenants' rows; another tenant's object answers 404, exactly like an
object that does not exist.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from clinic import outbox, policy, selectors, services
from clinic.contracts import Scope
from clinic.models import ApiClient, EventDelivery, Membership, OutboxEvent, PolicyTemplate, Site, Tenant


def admin_tenant_ids(request: HttpRequest) -> list[int] | None:
    """Tenant IDs the user administers; None means all (a superuser)."""
    user = request.user
    if user.is_superuser:
        return None
    cached = getattr(request, "_clinic_admin_tenants", None)
    if cached is None:
        cached = selectors.admin_tenant_ids(user_id=user.pk) if user.is_active and user.is_staff else []
        request._clinic_admin_tenants = cached  # type: ignore[attr-defined]
    return list(cached)


class TenantScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Admin of a model owned by a tenant. ``tenant_path`` is the lookup to the tenant's ID."""

    tenant_path = "tenant_id"

    def _allowed(self, request: HttpRequest) -> bool:
        ids = admin_tenant_ids(request)
        return ids is None or bool(ids)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        ids = admin_tenant_ids(request)
        return qs if ids is None else qs.filter(**{f"{self.tenant_path}__in": ids})

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        # Django redirects to the index for a missing object; we answer 404, the same for an
        # object of another tenant as for one that does not exist.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object.")
        return obj

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = list(super().get_list_filter(request))
        if admin_tenant_ids(request) is None:
            return filters
        scoped: list[Any] = []
        for f in filters:
            if f == "tenant":
                continue
            if isinstance(f, str) and "__" not in f and self.model._meta.get_field(f).is_relation:
                # Django's related-field filter would list every tenant's rows by name.
                scoped.append((f, TenantRelatedFilter))
            else:
                scoped.append(f)
        return scoped

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        exclude = list(super().get_exclude(request, obj) or [])
        ids = admin_tenant_ids(request)
        if ids is not None and len(ids) == 1 and self.tenant_path == "tenant_id":
            exclude.append("tenant")  # set on save: a single-tenant admin has nothing to choose
        return exclude

    # Foreign keys to models that belong to no tenant, which a tenant admin may choose from
    # (everything else not tenant-scoped offers no choice to a tenant admin).
    unscoped_choice_fields: tuple[str, ...] = ()

    def _scoped_choices(self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        ids = admin_tenant_ids(request)
        if ids is None or "queryset" in kwargs or db_field.name in self.unscoped_choice_fields:
            return
        related = db_field.related_model
        if related is Tenant:
            kwargs["queryset"] = Tenant.objects.filter(pk__in=ids)
        elif any(f.name == "tenant" for f in related._meta.get_fields()):
            kwargs["queryset"] = related._default_manager.filter(tenant_id__in=ids)
        else:
            kwargs["queryset"] = related._default_manager.none()

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        ids = admin_tenant_ids(request)
        if ids is None or len(ids) != 1 or self.tenant_path != "tenant_id":
            return form
        tenant_id = ids[0]

        class TenantBoundForm(form):  # type: ignore[valid-type,misc]
            """Sets the (hidden) tenant before validation, so unique constraints that include it
            are checked as form errors instead of failing in the database."""

            def _post_clean(self) -> None:
                if getattr(self.instance, "tenant_id", None) is None:
                    self.instance.tenant_id = tenant_id
                super()._post_clean()
                try:
                    self.instance.validate_constraints()
                except ValidationError as exc:
                    self._update_errors(exc)

        return TenantBoundForm

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        ids = admin_tenant_ids(request)
        if not change and ids is not None and self.tenant_path == "tenant_id" and not obj.tenant_id:
            obj.tenant_id = ids[0]
        super().save_model(request, obj, form, change)

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> Any:
        # Inline choices are limited to the parent's tenant.
        if obj is not None and getattr(obj, "tenant_id", None) is not None:
            request._clinic_inline_parent_tenant = obj.tenant_id  # type: ignore[attr-defined]
        return super().get_inline_instances(request, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Inline rows belong to the parent's tenant, whatever the form said (it has no tenant).
        instances = formset.save(commit=False)
        parent_tenant = getattr(form.instance, "tenant_id", None)
        for instance in instances:
            if parent_tenant is not None and hasattr(instance, "tenant_id"):
                instance.tenant_id = parent_tenant
            instance.save()
        for removed in formset.deleted_objects:
            removed.delete()
        formset.save_m2m()


class TenantRelatedFilter(admin.RelatedFieldListFilter):
    """A related-field filter offering only the rows of the admin's tenants."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        ids = admin_tenant_ids(request)
        related = field.related_model
        qs = related._default_manager.all()
        if ids is not None:
            if related is Tenant:
                qs = qs.filter(pk__in=ids)
            elif any(f.name == "tenant" for f in related._meta.get_fields()):
                qs = qs.filter(tenant_id__in=ids)
            else:
                qs = qs.none()
        return [(obj.pk, str(obj)) for obj in qs]


class TenantScopedInline:
    """Inlines of tenant-owned rows: a tenant admin's permissions and choices, as in
    ``TenantScopedAdmin``; the row's tenant is its parent's."""

    def _allowed(self, request: HttpRequest) -> bool:
        ids = admin_tenant_ids(request)
        return ids is None or bool(ids)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        parent = getattr(request, "_clinic_inline_parent_tenant", None)
        related = db_field.related_model
        if any(f.name == "tenant" for f in related._meta.get_fields()):
            ids = admin_tenant_ids(request)
            if parent is not None:
                kwargs["queryset"] = related._default_manager.filter(tenant_id=parent)
            elif ids is not None:
                kwargs["queryset"] = related._default_manager.filter(tenant_id__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class ReadOnlyAdminMixin:
    """For records written only by the system (events, deliveries)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Tenancy ------------------------------------------------------------------------------------


class PolicyDocumentField(forms.JSONField):
    def __init__(self, *args: Any, field_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.field_name = field_name

    def validate(self, value: Any) -> None:
        super().validate(value)
        problems = policy.validate_document(value if value is not None else {}, field=self.field_name)
        if problems:
            raise forms.ValidationError([f"{p.field}: {p.message}" for p in problems])


class PolicyTemplateForm(forms.ModelForm):  # type: ignore[type-arg]
    settings = PolicyDocumentField(field_name="settings", required=False)

    class Meta:
        model = PolicyTemplate
        fields = ["name", "description", "settings"]


@admin.register(PolicyTemplate)
class PolicyTemplateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = PolicyTemplateForm
    list_display = ["name", "description", "updated_at"]
    search_fields = ["name"]


class TenantForm(forms.ModelForm):  # type: ignore[type-arg]
    policy_overrides = PolicyDocumentField(field_name="policy_overrides", required=False)

    class Meta:
        model = Tenant
        fields = ["slug", "name", "policy_template", "policy_overrides", "is_active"]


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_path = "pk"
    form = TenantForm
    list_display = ["slug", "name", "policy_template", "is_active", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["effective_policy"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # tenants are deactivated, never deleted: clinical rows reference them

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Templates are shared across a group: only a platform operator assigns them.
            fields += ["slug", "is_active", "policy_template"]
        return fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Through the service, so the tenant is set up like any other (tenant.created).
        tenant = services.create_tenant(
            slug=obj.slug, name=obj.name, template=obj.policy_template.name if obj.policy_template else None
        )
        Tenant.objects.filter(pk=tenant.pk).update(policy_overrides=obj.policy_overrides, is_active=obj.is_active)
        obj.pk = tenant.pk
        obj.refresh_from_db()

    @admin.display(description="Effective policy (defaults ← template ← overrides)")
    def effective_policy(self, obj: Tenant) -> str:
        import json

        if obj._state.adding:
            return "-"
        return json.dumps(selectors.effective_policy(tenant_id=obj.pk), indent=2, sort_keys=True)


class SiteForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Site
        fields = ["tenant", "code", "name", "timezone", "address", "is_active"]

    def clean_timezone(self) -> str:
        import zoneinfo

        value: str = self.cleaned_data["timezone"]
        if value not in zoneinfo.available_timezones():
            raise forms.ValidationError(f"Unknown time zone {value!r}: use an IANA name such as Europe/London.")
        return value


@admin.register(Site)
class SiteAdmin(TenantScopedAdmin):
    form = SiteForm
    list_display = ["code", "name", "tenant", "timezone", "is_active"]
    list_filter = ["tenant", "is_active"]
    search_fields = ["code", "name"]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    unscoped_choice_fields = ("user",)  # narrowed to the tenant's staff below
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["tenant", "role"]
    search_fields = ["user__username"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        ids = admin_tenant_ids(request)
        if db_field.name == "user" and ids is not None:
            # A tenant admin picks among their tenants' staff, not every user of the platform.
            kwargs["queryset"] = db_field.related_model._default_manager.filter(
                memberships__tenant_id__in=ids
            ).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ApiClientForm(forms.ModelForm):  # type: ignore[type-arg]
    scopes = forms.CharField(
        required=False,
        help_text="Space-separated: " + ", ".join(s.value for s in Scope) + ", or SMART scopes such as system/*.read.",
        widget=forms.TextInput(attrs={"size": 80}),
    )

    class Meta:
        model = ApiClient
        fields = ["tenant", "name", "scopes", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.pk:
            self.initial["scopes"] = " ".join(self.instance.scopes)
        elif not self.initial.get("scopes"):
            self.initial["scopes"] = "api:read api:write"

    def clean_scopes(self) -> list[str]:
        from clinic.contracts import is_valid_scope

        scopes = list(dict.fromkeys(self.cleaned_data.get("scopes", "").split()))
        bad = [s for s in scopes if not is_valid_scope(s)]
        if bad:
            raise forms.ValidationError("Unknown scopes: " + ", ".join(bad))
        return scopes


@admin.register(ApiClient)
class ApiClientAdmin(TenantScopedAdmin):
    form = ApiClientForm
    list_display = ["name", "tenant", "token_prefix", "scope_list", "is_active", "last_used_at"]
    list_filter = ["tenant", "is_active"]
    search_fields = ["name", "token_prefix"]
    readonly_fields = ["token_prefix", "created_at", "last_used_at"]
    actions = ["rotate_token"]

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiClient) -> str:
        return " ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        ids = admin_tenant_ids(request)
        tenant_id = obj.tenant_id or (ids[0] if ids else None)
        if tenant_id is None:
            messages.error(request, "Choose the tenant of the API client.")
            return
        client, token = services.create_api_client(tenant_id=tenant_id, name=obj.name, scopes=obj.scopes)
        obj.pk = client.pk
        obj.refresh_from_db()
        messages.warning(request, f"Token for {client.name} (shown once, store it now): {token}")

    @admin.action(description="Rotate the token of the selected clients (shows the new tokens once)")
    def rotate_token(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset:
            rotated, token = services.rotate_api_client_token(client_id=client.pk)
            messages.warning(request, f"New token for {rotated.name} (shown once): {token}")


# --- Event outbox -------------------------------------------------------------------------------


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
        ids = list(queryset.filter(delivered_at__isnull=True).values_list("pk", flat=True))
        sent = sum(outbox.dispatch_event(event_id=event_id, retry=False) for event_id in ids)
        level = messages.SUCCESS if sent == len(ids) else messages.ERROR
        messages.add_message(request, level, f"Dispatched {sent} of {len(ids)} undelivered events.")


@admin.register(EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    tenant_path = "event__tenant_id"
    list_display = ["event", "subscriber", "attempts", "delivered_at", "last_attempt_at"]
    list_filter = ["subscriber", ("delivered_at", admin.EmptyFieldListFilter)]
    search_fields = ["=subscriber"]
