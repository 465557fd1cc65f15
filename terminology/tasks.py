"""Celery entry points of terminology: load by id, call one service, idempotent."""
