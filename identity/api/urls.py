"""Routes of identity under /api/."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
