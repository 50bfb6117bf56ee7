"""lifecycle checks (being written)."""
