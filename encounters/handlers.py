"""Event subscriptions of encounters (registered with clinic.facade.subscriber)."""
