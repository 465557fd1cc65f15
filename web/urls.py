"""The web app's pages: plain, bookmarkable URLs (ADR 0009)."""

from django.urls import path

from web.views import auth, day, patients

urlpatterns = [
    path("", auth.home, name="home"),
    path("login/", auth.sign_in, name="login"),
    path("logout/", auth.sign_out, name="logout"),
    path("tenant/", auth.choose_tenant, name="choose-tenant"),
    path("session/status", auth.session_status, name="session-status"),
    path("session/extend", auth.session_extend, name="session-extend"),
    path("day/", day.day_list, name="day-list"),
    path("patients/", patients.patients, name="patients"),
    path("patients/register", patients.register, name="patient-register"),
    path("patients/<uuid:patient_id>/", patients.patient, name="patient"),
]
