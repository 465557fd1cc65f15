from django.apps import AppConfig


class ProbeConfig(AppConfig):
    name = "tests.probe"
    label = "probe"

    def ready(self) -> None:
        from clinic.facade import register_event_types
        from identity.facade import register_patient_reference
        from tests.probe.contracts import PROBE_EVENTS
        from tests.probe.models import ProbeChart

        register_patient_reference(ProbeChart)
        register_event_types(*PROBE_EVENTS)
