from django.apps import AppConfig


class TerminologyConfig(AppConfig):
    """Code systems, concepts, versioned concept maps, translation as of a date."""

    name = "terminology"
