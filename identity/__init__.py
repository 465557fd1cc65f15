"""Patients, identifier systems, idempotent registration, matching, merge and unmerge."""
