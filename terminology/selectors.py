"""Reads of terminology."""
