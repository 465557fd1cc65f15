"""Django admin of results."""
