from django.urls import path

from clinic.api import views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("sites", views.SiteListView.as_view(), name="site-list"),
    path("sites/<int:site_id>", views.SiteDetailView.as_view(), name="site-detail"),
    path("events", views.EventListView.as_view(), name="event-list"),
    path("events/<uuid:event_id>", views.EventDetailView.as_view(), name="event-detail"),
]
