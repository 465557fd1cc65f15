from django.apps import AppConfig


class ResultsConfig(AppConfig):
    """Inbound results: DiagnosticReport and Observation, corrections, the unmatched-result queue."""

    name = "results"
