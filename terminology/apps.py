from django.apps import AppConfig


class TerminologyConfig(AppConfig):
    """Code systems, concepts, versioned concept maps, translation as of a date."""

    name = "terminology"

    def ready(self) -> None:
        from clinic.facade import register_event_types
        from terminology.contracts import PUBLISHED_EVENTS

        register_event_types(*PUBLISHED_EVENTS)
