"""Celery entry points of billing: load by id, call one service, idempotent."""
