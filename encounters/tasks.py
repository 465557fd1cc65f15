"""Celery entry points of encounters: load by id, call one service, idempotent."""
