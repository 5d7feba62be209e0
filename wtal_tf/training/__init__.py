"""Training: one runner, a task per method, checkpoints, strategies, RefineLoc's loop."""
