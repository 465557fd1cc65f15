from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """Lab orders (ServiceRequest), prescriptions (later), outbound order messages (interop)."""

    name = "orders"

    def ready(self) -> None:
        from clinic.facade import register_event_types
        from encounters.facade import register_cancel_guard
        from identity.facade import register_patient_reference
        from orders.contracts import PUBLISHED_EVENTS
        from orders.models import ServiceRequest
        from orders.selectors import active_orders_block_cancel

        register_patient_reference(ServiceRequest)
        register_cancel_guard(active_orders_block_cancel)
        register_event_types(*PUBLISHED_EVENTS)
