"""Benchmarks: ratios measured in one run (see run.py)."""
