"""Public plain data types of results: frozen dataclasses, enums, event types; no Django imports."""
