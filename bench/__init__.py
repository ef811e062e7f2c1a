"""Benchmarks of Tessera's core against its physical limit (``make bench``; docs/benchmarks.md)."""
