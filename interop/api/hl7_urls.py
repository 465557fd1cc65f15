"""HL7 v2 over HTTP, mounted at /hl7/."""

from django.urls import URLPattern, path

from interop.api.views import Hl7View

urlpatterns: list[URLPattern] = [
    path("v2", Hl7View.as_view(), name="hl7-v2"),
]
