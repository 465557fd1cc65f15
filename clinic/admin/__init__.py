"""The kernel's admin: the admin kit other apps' ``admin`` modules build on, and (registered on
import, when Django's admin autodiscovery imports this package) the kernel's own pages.

Other apps import the kit from here: ``from clinic.admin import TenantScopedAdmin``.
"""

from clinic.admin import outbox, tenancy  # noqa: F401 - the kernel's own pages register on import
from clinic.admin.kit import (
    ReadOnlyAdminMixin,
    TenantRelatedFilter,
    TenantScopedAdmin,
    TenantScopedInline,
    admin_tenant_ids,
)

__all__ = ["ReadOnlyAdminMixin", "TenantRelatedFilter", "TenantScopedAdmin", "TenantScopedInline", "admin_tenant_ids"]
