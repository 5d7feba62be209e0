"""Plots (matplotlib, Agg backend, written atomically as PNG)."""
