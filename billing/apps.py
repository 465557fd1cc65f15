from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Fee schedules, charge items and encounter accounts."""

    name = "billing"

    def ready(self) -> None:
        from billing.contracts import PUBLISHED_EVENTS
        from billing.models import ChargeItem
        from clinic.facade import register_event_types
        from identity.facade import register_patient_reference

        register_patient_reference(ChargeItem)
        register_event_types(*PUBLISHED_EVENTS)
