"""The HTTP edge of billing: DRF views and serializers."""
