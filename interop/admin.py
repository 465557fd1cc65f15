"""Django admin of interop."""
