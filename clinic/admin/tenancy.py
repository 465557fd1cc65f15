"""Admin of the kernel's tenancy: policy templates, tenants (with their effective policy and
feature flags), sites, memberships and API clients."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from clinic import policy, selectors, services
from clinic.admin.kit import TenantScopedAdmin, admin_tenant_ids
from clinic.contracts import Scope
from clinic.models import ApiClient, Membership, PolicyTemplate, Site, Tenant


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
    list_display = ["slug", "name", "policy_template", "is_active", "flags_on", "created_at"]
    list_select_related = ["policy_template"]
    search_fields = ["slug", "name"]
    readonly_fields = ["feature_flags", "effective_policy"]

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
            slug=obj.slug,
            name=obj.name,
            template=obj.policy_template.name if obj.policy_template else None,
            policy_overrides=obj.policy_overrides,
            is_active=obj.is_active,
        )
        obj.pk = tenant.pk
        obj.refresh_from_db()

    @admin.display(description="Feature flags on")
    def flags_on(self, obj: Tenant) -> str:
        on = [state.name for state in selectors.flag_states(tenant_id=obj.pk) if state.active]
        return ", ".join(on) or "-"

    @admin.display(description="Feature flags (global switch ← tenant override ← template ← default)")
    def feature_flags(self, obj: Tenant) -> str:
        if obj._state.adding:
            return "-"
        states = selectors.flag_states(tenant_id=obj.pk)
        if not states:
            return "No feature flag is declared."
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (s.name, "on" if s.active else "off", s.source.value, "on" if s.default else "off", s.description)
                for s in states
            ),
        )
        return format_html(
            "<table><thead><tr><th scope='col'>Flag</th><th scope='col'>Value</th><th scope='col'>Decided by</th>"
            "<th scope='col'>Default</th><th scope='col'>What it does</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

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
        rotated = services.rotate_api_client_tokens(client_ids=list(queryset.values_list("pk", flat=True)))
        for client, token in rotated:
            messages.warning(request, f"New token for {client.name} (shown once): {token}")
