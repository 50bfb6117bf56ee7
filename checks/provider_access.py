"""provider_access checks (being written)."""
