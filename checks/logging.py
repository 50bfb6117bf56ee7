"""logging checks (being written)."""
