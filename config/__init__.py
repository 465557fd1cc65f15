"""The Django project: settings (read from the environment), the root URLs, the ASGI/WSGI entry
points and the Celery app. The kernel and the apps live in their own packages (``clinic/``,
``identity/``...); nothing there imports this package.

The Celery app is created whenever the settings are imported (``DJANGO_SETTINGS_MODULE`` names
``config.settings``), so every process, not only a worker, sends tasks through it.
"""

from config.celery import app as celery_app

__all__ = ["celery_app"]
