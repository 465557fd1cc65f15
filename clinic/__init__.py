"""The clinic platform project and its kernel (tenancy, events, flags, policy)."""

from clinic.celery import app as celery_app

__all__ = ["celery_app"]
