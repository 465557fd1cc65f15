"""Public plain data types of interop: frozen dataclasses, enums, event types; no Django imports."""
