"""Routes of encounters under /api/."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
