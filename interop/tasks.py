"""Celery entry points of interop: load by id, call one service, idempotent."""
