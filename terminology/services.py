"""Writes of terminology (keyword-only, typed); the exceptions they raise are defined here."""
