"""``thumos14``: THUMOS'14 features and annotations (manual download)."""

from wtal_datasets.thumos14.thumos14_dataset_builder import Builder  # noqa: F401
