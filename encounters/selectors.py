"""Reads of encounters."""
