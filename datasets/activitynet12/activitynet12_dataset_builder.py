"""TFDS builder for ActivityNet v1.2 temporal action localization (100 classes).

Splits follow AutoLoc §5.1 and RefineLoc §4.1: ``training`` trains (``train``
+ ``holdout``), ``validation`` tests.
"""

from __future__ import annotations

from wtal_datasets import common

_INSTRUCTIONS = """\
No download is possible: place the files in the manual directory
(`~/tensorflow_datasets/downloads/manual/activitynet12/` or `--manual_dir`):

  EITHER an interchange root made by `wtal data convert`:
      annotations.json   (ActivityNet-style; subsets 'training' and 'validation')
      features/<config>/<video_id>.npy          (or features/<video_id>.npy)
  OR RefineLoc's ground-truth CSVs:
      activitynet_v1-2_train_groundtruth.csv  activitynet_v1-2_valid_groundtruth.csv
      features/<config>/<video_id>.npy          [T, D] per video (or rgb/ + flow/)

<config> is `i3d` (RefineLoc: I3D, D=2048) or `tsn` (AutoLoc/UntrimmedNet TSN, D=2048).
"""

CSV_FILES = {"activitynet_v1-2_train_groundtruth.csv": "training",
             "activitynet_v1-2_valid_groundtruth.csv": "validation"}


class Builder(common.ManualBuilder):
    """ActivityNet v1.2 snippet features with video labels and segments."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
    HOMEPAGE = "http://activity-net.org/"
    CSV_FILES = CSV_FILES
    BUILDER_CONFIGS = [
        common.WtalConfig(name="i3d", description="I3D two-stream (RefineLoc §4.2), "
                          "D=2048", feature_dim=2048, num_classes=100),
        common.WtalConfig(name="tsn", description="UntrimmedNet TSN two-stream "
                          "(AutoLoc §4.1), D=2048", feature_dim=2048, num_classes=100),
    ]
