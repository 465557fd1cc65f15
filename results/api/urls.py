"""Routes of results under /api/."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
