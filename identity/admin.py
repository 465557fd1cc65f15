"""Django admin of identity."""
