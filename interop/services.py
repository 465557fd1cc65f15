"""Writes of interop (keyword-only, typed); the exceptions they raise are defined here."""
