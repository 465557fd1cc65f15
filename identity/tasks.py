"""Celery entry points of identity: load by id, call one service, idempotent."""
