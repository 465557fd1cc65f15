"""Event subscriptions of billing (registered with clinic.facade.subscriber)."""
