"""Django admin of billing."""
