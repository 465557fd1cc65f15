"""Event subscriptions of results (registered with clinic.facade.subscriber)."""
