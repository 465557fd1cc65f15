from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """Lab orders (ServiceRequest), prescriptions (MedicationRequest), outbound order messages."""

    name = "orders"
