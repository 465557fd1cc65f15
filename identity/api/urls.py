"""Routes of identity under /api/."""

from django.urls import path

from identity.api import views

urlpatterns = [
    path("patients", views.PatientListView.as_view(), name="patient-list"),
    path("patients/match", views.PatientMatchView.as_view(), name="patient-match"),
    path("patients/<uuid:patient_id>", views.PatientDetailView.as_view(), name="patient-detail"),
    path("patients/<uuid:patient_id>/merge", views.PatientMergeView.as_view(), name="patient-merge"),
    path("patients/<uuid:patient_id>/unmerge", views.PatientUnmergeView.as_view(), name="patient-unmerge"),
    path("identifier-systems", views.IdentifierSystemListView.as_view(), name="identifier-system-list"),
]
