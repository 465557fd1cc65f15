from django.apps import AppConfig


class InteropConfig(AppConfig):
    """The edges: HL7 v2 listeners and message store, the FHIR R4 read API, outbound delivery."""

    name = "interop"
