"""Reads of identity."""
