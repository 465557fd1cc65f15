"""Writes of orders (keyword-only, typed); the exceptions they raise are defined here."""
