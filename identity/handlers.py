"""Event subscriptions of identity (registered with clinic.facade.subscriber)."""
