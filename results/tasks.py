"""Celery entry points of results: load by id, call one service, idempotent."""
