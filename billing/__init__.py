"""Fee schedules, charge items and encounter accounts."""
