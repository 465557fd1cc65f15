"""Feature flags terminology owns (declared with clinic.facade.define_flag, each with a safe default)."""
