"""A straightforward per-prediction loop of the ActivityNet convention.

Kept as an independent reference for the vectorised evaluator: the tests
compare the two on random inputs, and the benchmark reports their speed ratio.
It mirrors the published algorithm line by line, with no vectorisation.
"""

from __future__ import annotations

import numpy as np

from wtal_tf.data.detections import Detections
from wtal_tf.data.video import AnnotationSet


def _iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def activitynet_map_loop(ground_truth: AnnotationSet, detections: Detections, tious,
                         subset=None):
    """Returns ``(mAP [n_thr], classes, ap [n_thr, K])`` by explicit loops."""
    videos = (ground_truth.videos.values() if subset is None
              else ground_truth.subset([subset]))
    gt = {}
    for v in videos:
        for s in v.segments:
            gt.setdefault(s.label, {}).setdefault(v.video_id, []).append((s.start, s.end))
    classes = [c for c in ground_truth.classes if c in gt]
    ap = np.zeros((len(tious), len(classes)))
    for k, c in enumerate(classes):
        npos = sum(len(x) for x in gt[c].values())
        preds = [i for i in range(len(detections)) if detections.labels[i] == c]
        preds.sort(key=lambda i: -detections.scores[i])
        for t, thr in enumerate(tious):
            locked = {vid: [False] * len(segs) for vid, segs in gt[c].items()}
            tp, fp = [], []
            for i in preds:
                vid = str(detections.video_ids[i])
                segs = gt[c].get(vid, [])
                ious = [_iou((detections.starts[i], detections.ends[i]), g) for g in segs]
                matched = False
                for j in sorted(range(len(segs)), key=lambda j: -ious[j]):
                    if ious[j] < thr:
                        break
                    if locked[vid][j]:
                        continue
                    locked[vid][j] = True
                    matched = True
                    break
                tp.append(1.0 if matched else 0.0)
                fp.append(0.0 if matched else 1.0)
            if not preds:
                continue
            tp_c, fp_c = np.cumsum(tp), np.cumsum(fp)
            rec = tp_c / npos
            prec = tp_c / (tp_c + fp_c)
            mrec = [0.0] + list(rec) + [1.0]
            mprec = [0.0] + list(prec) + [0.0]
            for i in range(len(mprec) - 2, -1, -1):
                mprec[i] = max(mprec[i], mprec[i + 1])
            ap[t, k] = sum((mrec[i] - mrec[i - 1]) * mprec[i]
                           for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])
    return ap.mean(axis=1), classes, ap
