"""The FHIR R4 API, mounted at /fhir/."""

from django.urls import URLPattern, path, re_path

from interop.fhir.views import fhir

urlpatterns: list[URLPattern] = [
    path("", fhir, name="fhir-base"),
    re_path(r"^(?P<path>.+)$", fhir, name="fhir"),
]
