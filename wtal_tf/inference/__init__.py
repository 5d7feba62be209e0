"""Inference: loading a run directory, a model's outputs on a split, detections in seconds.

Used by training (RefineLoc's pseudo labels, holdout metrics), the CLI, the
pipelines and the export alike; it never trains.
"""
