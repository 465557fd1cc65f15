from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """Lab orders (ServiceRequest), prescriptions (later), outbound order messages (interop)."""

    name = "orders"

    def ready(self) -> None:
        from identity.facade import register_patient_reference
        from orders.models import ServiceRequest

        register_patient_reference(ServiceRequest)
