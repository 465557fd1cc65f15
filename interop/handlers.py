"""Event subscriptions of interop (registered with clinic.facade.subscriber)."""
