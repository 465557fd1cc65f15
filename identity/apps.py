from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Patients, identifier systems, idempotent registration, matching, merge and unmerge."""

    name = "identity"
