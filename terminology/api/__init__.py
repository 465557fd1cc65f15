"""The HTTP edge of terminology: DRF views and serializers."""
