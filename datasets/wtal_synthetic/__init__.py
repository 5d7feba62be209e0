"""``wtal_synthetic``: the project's generated default (no manual data)."""

from wtal_datasets.wtal_synthetic.wtal_synthetic_dataset_builder import Builder  # noqa: F401
