from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Fee schedules, charge items and encounter accounts."""

    name = "billing"
