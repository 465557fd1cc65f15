"""Django admin of terminology."""
