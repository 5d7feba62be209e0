"""Train / holdout / test splits.

Model selection (best epoch, RefineLoc's iteration count, thresholds) never
looks at the test split: it uses a *holdout* of the training videos, with
video-level labels (and pseudo labels) only.  A video is in the holdout when a
hash of its id falls below ``HOLDOUT_FRACTION``: stable across runs, machines
and dataset sizes (adding videos never moves an old one), and the same rule
for every dataset root and TFDS builder.
"""

from __future__ import annotations

import hashlib
from wtal_tf.data.video import TEST_SUBSETS, TRAIN_SUBSETS, AnnotationSet

#: 20% of the training videos (issue #3); RefineLoc picks its best epoch on a
#: validation loss (§4.2), which we compute on this holdout.
HOLDOUT_FRACTION = 0.2


def holdout_score(video_id: str) -> float:
    """A uniform number in [0, 1) fixed by the video id."""
    digest = hashlib.sha256(video_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def is_holdout(video_id: str, fraction: float = HOLDOUT_FRACTION) -> bool:
    return holdout_score(video_id) < fraction


def split_ids(annotations: AnnotationSet, fraction: float = HOLDOUT_FRACTION
              ) -> dict[str, list[str]]:
    """``{"train", "holdout", "test"}`` -> sorted video ids."""
    train = [v.video_id for v in annotations.subset(TRAIN_SUBSETS)]
    test = [v.video_id for v in annotations.subset(TEST_SUBSETS)]
    return {"train": sorted(v for v in train if not is_holdout(v, fraction)),
            "holdout": sorted(v for v in train if is_holdout(v, fraction)),
            "test": sorted(test)}

