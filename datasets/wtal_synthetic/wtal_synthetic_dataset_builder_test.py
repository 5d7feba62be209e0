"""Builds ``wtal_synthetic/thumos_tiny`` (generated: no manual data)."""

import tensorflow_datasets as tfds

from wtal_datasets.wtal_synthetic import wtal_synthetic_dataset_builder
from wtal_tf.data import splits, synthetic


def _expected_splits():
    spec = wtal_synthetic_dataset_builder.Builder.builder_configs["thumos_tiny"].spec
    ids = [synthetic.video_id("training", i) for i in range(spec.num_train)]
    n_hold = sum(splits.is_holdout(v) for v in ids)
    return {"train": spec.num_train - n_hold, "holdout": n_hold, "test": spec.num_test}


class WtalSyntheticTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = wtal_synthetic_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["thumos_tiny"]
    SPLITS = _expected_splits()
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
