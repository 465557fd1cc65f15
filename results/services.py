"""Writes of results (keyword-only, typed); the exceptions they raise are defined here."""
