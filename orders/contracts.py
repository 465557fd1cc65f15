"""Public plain data types of orders: frozen dataclasses, enums, event types; no Django imports."""
