"""False-positive analysis in the spirit of DETAD (Alwassel et al., ECCV'18).

At tIoU ``alpha`` (default 0.5), a false positive is, by the first rule that
applies:

1. *double detection*: tIoU >= alpha with a same-label ground truth (already
   matched, or it would have been a true positive);
2. *wrong label*: tIoU >= alpha with a ground truth of another label;
3. *localization error*: same label and 0.1 <= tIoU < alpha;
4. *confusion*: another label and 0.1 <= tIoU < alpha;
5. *background*: tIoU < 0.1 with every ground truth.

The profile counts true positives and each error type among the top-kG
predictions by score (G = number of ground-truth instances), k = 1..10, as in
RefineLoc's Figure 3.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from wtal_tf.data.detections import Detections
from wtal_tf.data.video import AnnotationSet
from wtal_tf.evaluation.detection import _gt_table, match_activitynet, segment_iou

CATEGORIES = ("true positive", "double detection", "wrong label", "localization",
              "confusion", "background")
#: DETAD's lower tIoU bound for localization and confusion errors.
MIN_TIOU = 0.1


@dataclasses.dataclass
class Diagnosis:
    alpha: float
    num_ground_truth: int
    categories: np.ndarray       # [N] int index into CATEGORIES, detections by score
    multiples: np.ndarray        # [k] 1..10
    counts: np.ndarray           # [k, len(CATEGORIES)] within the top-kG

    @property
    def fractions(self) -> np.ndarray:
        tot = self.counts.sum(axis=1, keepdims=True)
        return self.counts / np.maximum(tot, 1)

    def table(self) -> str:
        head = "top-kG " + " ".join(f"{c:>17}" for c in CATEGORIES)
        rows = [head]
        for k, frac in zip(self.multiples, self.fractions):
            rows.append(f"{k:>5}G " + " ".join(f"{100 * f:>16.1f}%" for f in frac))
        return "\n".join(rows)

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "num_ground_truth": self.num_ground_truth,
                "categories": list(CATEGORIES),
                "top_kG": {int(k): dict(zip(CATEGORIES, map(int, c)))
                           for k, c in zip(self.multiples, self.counts)}}


def classify_predictions(ground_truth: AnnotationSet, detections: Detections, *,
                         alpha: float = 0.5, subset=None) -> np.ndarray:
    """The category (index into ``CATEGORIES``) of every detection, input order."""
    gt_vid, gt_s, gt_e, gt_lab, _ = _gt_table(ground_truth, subset)
    n = len(detections)
    cat = np.full(n, CATEGORIES.index("background"))
    tp = np.zeros(n, bool)
    for c in np.unique(detections.labels):
        dm = np.nonzero(detections.labels == c)[0]
        gm = gt_lab == c
        tp[dm] = match_activitynet(detections.video_ids[dm], detections.starts[dm],
                                   detections.ends[dm], detections.scores[dm],
                                   gt_vid[gm], gt_s[gm], gt_e[gm], np.array([alpha]))[0]
    for vid in np.unique(detections.video_ids):
        dm = np.nonzero(detections.video_ids == vid)[0]
        gm = gt_vid == vid
        if not gm.any():
            continue
        iou = segment_iou(np.stack([detections.starts[dm], detections.ends[dm]], 1),
                          np.stack([gt_s[gm], gt_e[gm]], 1))            # [n, G]
        same = detections.labels[dm][:, None] == gt_lab[gm][None, :]
        best_same = np.where(same, iou, 0).max(axis=1)
        best_other = np.where(~same, iou, 0).max(axis=1)
        c = np.full(len(dm), CATEGORIES.index("background"))
        # assigned in reverse priority so the first matching rule wins
        c[best_other >= MIN_TIOU] = CATEGORIES.index("confusion")
        c[best_same >= MIN_TIOU] = CATEGORIES.index("localization")
        c[best_other >= alpha] = CATEGORIES.index("wrong label")
        c[best_same >= alpha] = CATEGORIES.index("double detection")
        cat[dm] = c
    cat[tp] = CATEGORIES.index("true positive")
    return cat


def diagnose(ground_truth: AnnotationSet, detections: Detections, *, alpha: float = 0.5,
             subset=None, max_multiple: int = 10) -> Diagnosis:
    """The false-positive profile over the top-1G ... top-``max_multiple``G."""
    cat = classify_predictions(ground_truth, detections, alpha=alpha, subset=subset)
    order = np.argsort(-detections.scores, kind="stable")
    cat = cat[order]
    g = sum(len(v.segments) for v in (ground_truth.videos.values() if subset is None
                                      else ground_truth.subset([subset] if isinstance(
                                          subset, str) else subset)))
    multiples = np.arange(1, max_multiple + 1)
    counts = np.stack([np.bincount(cat[: k * g], minlength=len(CATEGORIES))
                       for k in multiples])
    return Diagnosis(alpha, g, cat, multiples, counts)
