from __future__ import annotations

from django.apps import AppConfig


class ClinicConfig(AppConfig):
    """The kernel: tenancy, the event outbox, the feature flag and policy registries."""

    name = "clinic"
    verbose_name = "Clinic platform (kernel)"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from clinic import flags, policy

        policy.register_section(flags.policy_section())
        # Every app's flags (flags.py) and event subscribers (handlers.py) register themselves
        # when imported: declaring a flag or a subscriber needs no other wiring.
        autodiscover_modules("flags", "handlers")
