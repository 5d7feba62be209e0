"""Evaluation: the full ActivityNet 1.2 val file, vectorised vs a per-prediction loop."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.common import Row, best_of

SHARED = Path(os.environ.get("WTAL_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))


def run(quick: bool = False) -> list[Row]:
    from wtal_tf.data import readers
    from wtal_tf.data.detections import read_detections
    from wtal_tf.evaluation import ACTIVITYNET_TIOUS, evaluate_detections
    from wtal_tf.evaluation.reference import activitynet_map_loop

    gt = readers.read_refineloc_csv(
        SHARED / "activitynet12" / "activitynet_v1-2_valid_groundtruth.csv")
    dets = read_detections(SHARED / "activitynet12" /
                           "refineloc_i3d_predictions_iteration0.json")
    fast = best_of(lambda: evaluate_detections(gt, dets), repeats=3)
    loop_dets = dets
    scale = 1.0
    if quick:  # the loop on a tenth of the videos, scaled up (reported as such)
        vids = sorted(set(dets.video_ids.tolist()))[::10]
        import numpy as np
        loop_dets = dets.select(np.isin(dets.video_ids, vids))
        scale = len(dets) / len(loop_dets)
    slow = best_of(lambda: activitynet_map_loop(gt, loop_dets, ACTIVITYNET_TIOUS),
                   repeats=1) * scale
    return [
        Row("evaluation", f"vectorised mAP, {len(dets)} predictions, 100 classes", fast, "s",
            "< 0.5 s"),
        Row("evaluation", "per-prediction loop" + (" (10% sample, scaled)" if quick else ""),
            slow, "s"),
        Row("evaluation", "speed-up vectorised / loop", slow / fast, "x"),
    ]
