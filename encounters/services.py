"""Writes of encounters (keyword-only, typed); the exceptions they raise are defined here."""
