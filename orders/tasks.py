"""Celery entry points of orders: load by id, call one service, idempotent."""
