"""Reads of interop."""
