"""Inbound results: DiagnosticReport and Observation, corrections, the unmatched-result queue."""
