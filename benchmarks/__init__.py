"""cloudaudit benchmark suite: ``python -m benchmarks [collection|checks|report|all] [--quick]``."""
