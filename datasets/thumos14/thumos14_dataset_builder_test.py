"""Builds ``thumos14`` from dummy data in RefineLoc's CSV layout."""

import tensorflow_datasets as tfds

from wtal_datasets.thumos14 import thumos14_dataset_builder


class Thumos14Test(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = thumos14_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["i3d"]
    # 4 validation videos -> 3 train + 1 holdout (hash rule); 2 test videos
    SPLITS = {"train": 3, "holdout": 1, "test": 2}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
