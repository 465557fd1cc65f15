from __future__ import annotations

from django.apps import AppConfig


class ClinicConfig(AppConfig):
    """The kernel: tenancy, the event outbox, the feature flag, policy and demo registries."""

    name = "clinic"
    verbose_name = "Clinic platform (kernel)"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from clinic import events, flags, policy
        from clinic.contracts import TenantCreated

        policy.register_section(flags.policy_section())
        events.register_contract(TenantCreated)
        # Every app's flags (flags.py), event subscribers (handlers.py) and demo step (demo.py)
        # register themselves when imported: declaring one needs no other wiring.
        autodiscover_modules("flags", "handlers", "demo")
