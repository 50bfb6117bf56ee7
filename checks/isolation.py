"""isolation checks (being written)."""
