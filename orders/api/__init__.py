"""The HTTP edge of orders: DRF views and serializers."""
