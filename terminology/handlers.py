"""Event subscriptions of terminology (registered with clinic.facade.subscriber)."""
