"""Routes of interop under /api/."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
