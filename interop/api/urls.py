"""Routes of interop under /api/."""

from django.urls import URLPattern, path

from interop.api.views import TraceView

urlpatterns: list[URLPattern] = [
    path("results/trace", TraceView.as_view(), name="results-trace"),
]
