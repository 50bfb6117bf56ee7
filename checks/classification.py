"""classification checks (being written)."""
