"""Routes of terminology under /api/."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
