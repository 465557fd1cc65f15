from django.apps import AppConfig


class ProbeConfig(AppConfig):
    name = "tests.probe"
    label = "probe"

    def ready(self) -> None:
        from identity.facade import register_patient_reference
        from tests.probe.models import ProbeChart

        register_patient_reference(ProbeChart)
