"""The admin kit: base classes for the admin of tenant-owned models (public to the ``admin``
modules of every app, through ``clinic.admin``).

Platform operators (superusers) see every tenant. A tenant admin (staff, with the admin role in
a tenant) sees only their tenants' rows; another tenant's object answers 404, exactly like an
object that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from clinic import selectors
from clinic.models import Tenant


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
