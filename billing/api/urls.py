"""Routes of billing under /api/."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
