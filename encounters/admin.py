"""Django admin of encounters."""
