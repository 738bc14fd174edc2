"""The benchmark suite: `python -m benchmarks.run_all [--quick]` (see docs/PERFORMANCE.md)."""
