"""encryption checks (being written)."""
