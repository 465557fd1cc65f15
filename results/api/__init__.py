"""The HTTP edge of results: DRF views and serializers."""
