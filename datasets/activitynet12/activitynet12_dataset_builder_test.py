"""Builds ``activitynet12`` from dummy data: an interchange root, two-stream features."""

import tensorflow_datasets as tfds

from wtal_datasets.activitynet12 import activitynet12_dataset_builder


class Activitynet12Test(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = activitynet12_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["i3d"]
    SPLITS = {"train": 3, "holdout": 1, "test": 2}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
