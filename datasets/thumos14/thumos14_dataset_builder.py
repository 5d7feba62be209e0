"""TFDS builder for THUMOS'14 temporal action localization (20 classes).

Splits follow AutoLoc §5.1 and RefineLoc §4.1: the 200 annotated validation
videos train (``train`` + ``holdout``), the test videos test.
"""

from __future__ import annotations

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


class Builder(common.ManualBuilder):
    """THUMOS'14 snippet features with video labels and ground-truth segments."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
    HOMEPAGE = "https://www.crcv.ucf.edu/THUMOS14/"
    CSV_FILES = CSV_FILES
    CLASSLIST = "classlist.txt"
    SUBSET_MAP = readers.THUMOS14_SUBSET_MAP
    BUILDER_CONFIGS = [
        common.WtalConfig(name="i3d", description="I3D two-stream (RefineLoc §4.2), "
                          "D=2048", feature_dim=2048, num_classes=20),
        common.WtalConfig(name="tsn", description="UntrimmedNet TSN two-stream "
                          "(AutoLoc §4.1), D=2048", feature_dim=2048, num_classes=20),
    ]
