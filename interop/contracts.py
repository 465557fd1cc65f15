"""Public plain data of interop. No Django imports.

Interop publishes no data of its own yet: partners and messages stay inside the app."""
