"""Routes of encounters under /api/. The timeline's live stream (``encounters/{id}/stream``) is
served by the stream server: ``config/streams.py``."""

from django.urls import path

from encounters.api import views

urlpatterns = [
    path("practitioners", views.PractitionerListView.as_view(), name="practitioner-list"),
    path("slots", views.SlotListView.as_view(), name="slot-list"),
    path("appointments", views.AppointmentListView.as_view(), name="appointment-list"),
    path("appointments/<uuid:appointment_id>", views.AppointmentDetailView.as_view(), name="appointment-detail"),
    path("appointments/<uuid:appointment_id>/cancel", views.AppointmentCancelView.as_view(), name="appointment-cancel"),
    path(
        "appointments/<uuid:appointment_id>/reschedule",
        views.AppointmentRescheduleView.as_view(),
        name="appointment-reschedule",
    ),
    path(
        "appointments/<uuid:appointment_id>/check-in",
        views.AppointmentCheckInView.as_view(),
        name="appointment-check-in",
    ),
    path("encounters", views.EncounterListView.as_view(), name="encounter-list"),
    path("encounters/<uuid:encounter_id>", views.EncounterDetailView.as_view(), name="encounter-detail"),
    path("encounters/<uuid:encounter_id>/start", views.EncounterStartView.as_view(), name="encounter-start"),
    path("encounters/<uuid:encounter_id>/finish", views.EncounterFinishView.as_view(), name="encounter-finish"),
    path("encounters/<uuid:encounter_id>/cancel", views.EncounterCancelView.as_view(), name="encounter-cancel"),
    path("encounters/<uuid:encounter_id>/timeline", views.TimelineView.as_view(), name="encounter-timeline"),
]
