"""TFDS builder for THUMOS'14 temporal action localization (20 classes).

Splits follow AutoLoc §5.1 and RefineLoc §4.1: the 200 annotated validation
videos train (``train`` + ``holdout``), the test videos test.
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from wtal_datasets import common
from wtal_tf.data import readers

_INSTRUCTIONS = """\
No download is possible: place the files in the manual directory
(`~/tensorflow_datasets/downloads/manual/thumos14/` or `--manual_dir`):

  EITHER an interchange root made by `wtal data convert --preset thumos14`:
      annotations.json
      features/<config>/<video_id>.npy          (or features/<video_id>.npy)
  OR RefineLoc's ground truth as published:
      thumos14_valid_groundtruth.csv  thumos14_test_groundtruth.csv  classlist.txt
      features/<config>/<video_id>.npy          [T, D] per video
      features/<config>/rgb/<id>.npy + features/<config>/flow/<id>.npy  (two-stream)

<config> is `i3d` (RefineLoc: I3D, 16-frame snippets, D=2048) or `tsn`
(AutoLoc: UntrimmedNet TSN, 15-frame snippets, D=2048).
"""

CSV_FILES = {"thumos14_valid_groundtruth.csv": "validation",
             "thumos14_test_groundtruth.csv": "testing"}


class Builder(tfds.core.GeneratorBasedBuilder):
    """THUMOS'14 snippet features with video labels and ground-truth segments."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
    BUILDER_CONFIGS = [
        common.WtalConfig(name="i3d", description="I3D two-stream (RefineLoc §4.2), "
                          "D=2048", feature_dim=2048, num_classes=20),
        common.WtalConfig(name="tsn", description="UntrimmedNet TSN two-stream "
                          "(AutoLoc §4.1), D=2048", feature_dim=2048, num_classes=20),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=common.features_dict(self.builder_config),
            homepage="https://www.crcv.ucf.edu/THUMOS14/",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        ann, store = common.read_manual(dl_manager.manual_dir, self.builder_config,
                                        csv_files=CSV_FILES, classlist="classlist.txt",
                                        subset_map=readers.THUMOS14_SUBSET_MAP)
        self.info.metadata["classes"] = list(ann.classes)
        parts = common.split_annotations(ann)
        return {name: self._generate_examples(items, store, ann.classes)
                for name, items in parts.items()}

    def __init__(self, *, use_beam: bool = False, **kwargs):
        self._use_beam = use_beam  # large feature dumps: build with Apache Beam
        super().__init__(**kwargs)

    def _generate_examples(self, items, store, classes):
        return common.generate(items, store, classes, use_beam=self._use_beam)
