"""Django admin of orders."""
