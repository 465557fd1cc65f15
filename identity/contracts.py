"""Public plain data types of identity: frozen dataclasses, enums, event types; no Django imports."""
