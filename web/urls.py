"""The web app's pages: plain, bookmarkable URLs (ADR 0009)."""

from django.urls import path

from web.views import auth, booking, day, patients

urlpatterns = [
    path("", auth.home, name="home"),
    path("login/", auth.sign_in, name="login"),
    path("logout/", auth.sign_out, name="logout"),
    path("tenant/", auth.choose_tenant, name="choose-tenant"),
    path("session/status", auth.session_status, name="session-status"),
    path("session/extend", auth.session_extend, name="session-extend"),
    path("day/", day.day_list_page, name="day-list"),
    path("appointments/<uuid:appointment_id>/check-in", day.check_in_page, name="check-in"),
    path("appointments/<uuid:appointment_id>/cancel", booking.cancel, name="appointment-cancel"),
    path("appointments/<uuid:appointment_id>/reschedule", booking.reschedule, name="appointment-reschedule"),
    path("patients/<uuid:patient_id>/book", booking.book, name="book"),
    path("patients/<uuid:patient_id>/walk-in", booking.walk_in, name="walk-in"),
    path("patients/", patients.patients, name="patients"),
    path("patients/register", patients.register, name="patient-register"),
    path("patients/<uuid:patient_id>/", patients.patient, name="patient"),
]
