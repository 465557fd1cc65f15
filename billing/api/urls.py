"""Routes of billing under /api/."""

from django.urls import path

from billing.api import views

urlpatterns = [
    path("encounters/<uuid:encounter_id>/charges", views.EncounterChargesView.as_view(), name="encounter-charges"),
]
