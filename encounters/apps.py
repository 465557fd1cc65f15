from django.apps import AppConfig


class EncountersConfig(AppConfig):
    """Schedules, slots, appointments, check-in, the encounter lifecycle and its timeline."""

    name = "encounters"

    def ready(self) -> None:
        from clinic.facade import register_event_types
        from encounters.contracts import PUBLISHED_EVENTS
        from encounters.models import Appointment, Encounter
        from encounters.services import two_visits_in_progress
        from identity.facade import register_merge_guard, register_patient_reference

        register_patient_reference(Appointment)
        register_patient_reference(Encounter)
        register_merge_guard(two_visits_in_progress)
        register_event_types(*PUBLISHED_EVENTS)
