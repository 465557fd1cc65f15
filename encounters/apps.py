from django.apps import AppConfig


class EncountersConfig(AppConfig):
    """Schedules, slots, appointments, check-in, the encounter lifecycle and its timeline."""

    name = "encounters"

    def ready(self) -> None:
        from encounters.models import Appointment, Encounter
        from identity.facade import register_patient_reference

        register_patient_reference(Appointment)
        register_patient_reference(Encounter)
