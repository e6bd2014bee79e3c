"""Benchmarks: scripts, not tests. ``python -m bench.bench_matching`` measures the engine."""
