"""A test-only app: event subscribers whose effects the tests can count."""
