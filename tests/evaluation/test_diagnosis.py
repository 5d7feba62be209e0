import numpy as np

from wtal_tf.data.detections import Detections
from wtal_tf.evaluation.diagnosis import CATEGORIES, classify_predictions, diagnose
from tests.evaluation.test_detection import gt_set


def test_each_false_positive_category_by_hand():
    gt = gt_set(("v", 0, 10, "a"), ("v", 20, 30, "b"))
    d = Detections.from_rows([
        ("v", 0, 10, 0.9, "a"),   # TP
        ("v", 1, 10, 0.8, "a"),   # tIoU .9 with the matched 'a': double detection
        ("v", 20, 30, 0.7, "a"),  # tIoU 1 with a 'b': wrong label
        ("v", 6, 16, 0.6, "a"),   # tIoU 4/16 = .25 with 'a': localization
        ("v", 26, 36, 0.5, "a"),  # tIoU 4/16 with 'b' only: confusion
        ("v", 50, 60, 0.4, "b"),  # nothing: background
        ("v", 29, 40, 0.3, "b"),  # tIoU 1/20 = .05 with 'b' (< 0.1): background
    ])
    cats = [CATEGORIES[c] for c in classify_predictions(gt, d)]
    assert cats == ["true positive", "double detection", "wrong label", "localization",
                    "confusion", "background", "background"]


def test_profile_counts_top_kG():
    gt = gt_set(("v", 0, 10, "a"), ("v", 20, 30, "b"))  # G = 2
    d = Detections.from_rows([("v", 50, 60, 0.9, "a"), ("v", 0, 10, 0.8, "a"),
                              ("v", 20, 30, 0.7, "b"), ("v", 70, 80, 0.6, "b")])
    diag = diagnose(gt, d, max_multiple=2)
    bg, tp = CATEGORIES.index("background"), CATEGORIES.index("true positive")
    assert diag.counts[0, bg] == 1 and diag.counts[0, tp] == 1       # top-2
    assert diag.counts[1, bg] == 2 and diag.counts[1, tp] == 2       # top-4
    np.testing.assert_allclose(diag.fractions.sum(axis=1), 1.0)
