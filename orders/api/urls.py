"""Routes of orders under /api/."""

from django.urls import path

from orders.api import views

urlpatterns = [
    path("orders/catalogue", views.CatalogueView.as_view(), name="order-catalogue"),
    path("orders/<uuid:order_id>", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/cancel", views.OrderCancelView.as_view(), name="order-cancel"),
    path("encounters/<uuid:encounter_id>/orders", views.EncounterOrdersView.as_view(), name="encounter-orders"),
]
