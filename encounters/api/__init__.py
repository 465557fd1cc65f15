"""The HTTP edge of encounters: DRF views and serializers."""
