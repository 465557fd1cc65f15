"""Public plain data types of encounters: frozen dataclasses, enums, event types; no Django imports."""
