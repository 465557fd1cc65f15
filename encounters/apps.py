from django.apps import AppConfig


class EncountersConfig(AppConfig):
    """Schedules, slots, appointments, check-in, the encounter lifecycle and its timeline."""

    name = "encounters"
