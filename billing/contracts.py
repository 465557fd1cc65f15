"""Public plain data types of billing: frozen dataclasses, enums, event types; no Django imports."""
