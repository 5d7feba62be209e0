"""``activitynet12``: ActivityNet v1.2 features and annotations (manual download)."""

from wtal_datasets.activitynet12.activitynet12_dataset_builder import Builder  # noqa: F401
