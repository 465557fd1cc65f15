from django.apps import AppConfig


class ResultsConfig(AppConfig):
    """Inbound results: DiagnosticReport and Observation, corrections, the unmatched-result queue."""

    name = "results"

    def ready(self) -> None:
        from clinic.facade import register_event_types
        from identity.facade import register_patient_reference
        from results.contracts import PUBLISHED_EVENTS
        from results.models import DiagnosticReport, Observation

        register_patient_reference(DiagnosticReport)
        register_patient_reference(Observation)
        register_event_types(*PUBLISHED_EVENTS)
