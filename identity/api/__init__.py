"""The HTTP edge of identity: DRF views and serializers."""
