"""authentication checks (being written)."""
