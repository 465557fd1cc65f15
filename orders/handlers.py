"""Event subscriptions of orders (registered with clinic.facade.subscriber)."""
