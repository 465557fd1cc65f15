"""Event subscriptions of the kernel: none yet."""
