"""Benchmarks run against a real PostGIS (`python -m bench.bench_sweep [--full]`; see bench/README.md)."""
