"""Writes of billing (keyword-only, typed); the exceptions they raise are defined here."""
