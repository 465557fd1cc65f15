from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


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
        checks.register(check_event_subscriptions)


def check_event_subscriptions(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every subscribed event type has a payload contract, registered by its producer (in its
    ``AppConfig.ready``, which runs after this app's): a subscription to a renamed type fails
    here, not silently."""
    from clinic import events

    return [
        checks.Error(problem, hint="Subscribe to the type's constant in its producer's contracts.", id="clinic.E001")
        for problem in events.unregistered_subscriptions()
    ]
