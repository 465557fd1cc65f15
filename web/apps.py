from django.apps import AppConfig


class WebConfig(AppConfig):
    """The web app: pages for clinicians and the front desk. It owns no clinical tables: it
    calls the other apps' facades, and registers the tenant policy section of its sessions."""

    name = "web"

    def ready(self) -> None:
        from clinic.facade import register_policy_section
        from web.session import SESSION_POLICY_DEFAULTS, SESSION_POLICY_SECTION

        register_policy_section(
            SESSION_POLICY_SECTION,
            defaults=SESSION_POLICY_DEFAULTS,
            description=(
                "Web sessions: signed out after idle_timeout_minutes without a page or action of the "
                "user's; a warning shows warning_minutes before."
            ),
        )
