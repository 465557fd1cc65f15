"""The HTTP edge of interop: DRF views and serializers."""
