"""Schedules, slots, appointments, check-in, the encounter lifecycle and its timeline."""
