"""Public plain data types of terminology: frozen dataclasses, enums, event types; no Django imports."""
