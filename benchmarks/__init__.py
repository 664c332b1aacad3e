"""Benchmarks against peer libraries, run on demand with `make bench` (never in CI)."""
