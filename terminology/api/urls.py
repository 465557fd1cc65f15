"""Routes of terminology under /api/."""

from django.urls import path

from terminology.api import views

urlpatterns = [
    path("terminology/translate", views.TranslateView.as_view(), name="terminology-translate"),
    path("terminology/unmapped", views.UnmappedListView.as_view(), name="terminology-unmapped"),
]
