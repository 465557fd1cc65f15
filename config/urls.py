"""The root URLs. Each app mounts its own ``api/urls.py`` under ``/api/``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.views import api_not_found, healthz, not_found

APPS_WITH_API = ["identity", "terminology", "encounters", "billing", "orders", "interop"]

admin.site.site_header = "Clinic platform administration"
admin.site.site_title = "Clinic platform admin"

handler400 = "config.views.bad_request"
handler403 = "web.views.errors.forbidden"
handler404 = "web.views.errors.not_found"
handler500 = "config.views.server_error"

urlpatterns = [
    # Django admin's "view on site" shortcut resolves any object of any tenant: not for us.
    path("admin/r/<path:rest>", not_found),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("clinic.api.urls")),
    *[path("api/", include(f"{app}.api.urls")) for app in APPS_WITH_API],
    path("hl7/", include("interop.api.hl7_urls")),
    path("fhir/", include("interop.fhir.urls")),
    # Anything else under /api/ is a JSON 404, also when DEBUG is on.
    re_path(r"^api(/.*)?$", api_not_found),
    # The clinician and front-desk web app (its pages: /, /login/, /day/, /patients/...).
    path("", include("web.urls")),
]
