"""Writes of identity (keyword-only, typed); the exceptions they raise are defined here."""
