from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Fee schedules, charge items and encounter accounts."""

    name = "billing"

    def ready(self) -> None:
        from billing.models import ChargeItem
        from identity.facade import register_patient_reference

        register_patient_reference(ChargeItem)
