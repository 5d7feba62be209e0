"""The evaluator: official numbers on real files, hand-computed cases, a loop reference."""

import numpy as np
import pytest

from wtal_tf.data import readers
from wtal_tf.data.detections import Detections, read_detections
from wtal_tf.data.video import AnnotationSet, Segment, VideoAnnotation
from wtal_tf.evaluation import (ACTIVITYNET_TIOUS, THUMOS_TIOUS, evaluate_detections,
                                interpolated_average_precision, segment_iou)
from wtal_tf.evaluation.reference import activitynet_map_loop
from wtal_tf.errors import WtalError

# ../shared/data/README.md: the official ActivityNet evaluator on these files (%).
OFFICIAL = {
    0: [19.223, 16.440, 13.736, 11.644, 9.562, 8.021, 6.594, 5.202, 3.815, 2.320, 9.656],
    3: [38.655, 35.567, 31.928, 28.634, 25.695, 22.558, 18.641, 14.577, 10.490, 5.475,
        23.222],
}


@pytest.fixture(scope="module")
def anet_gt(shared_data):
    return readers.read_refineloc_csv(
        shared_data / "activitynet12" / "activitynet_v1-2_valid_groundtruth.csv",
        subset="validation")


@pytest.mark.parametrize("iteration", [0, 3])
def test_reproduces_official_activitynet_numbers(shared_data, anet_gt, iteration):
    dets = read_detections(shared_data / "activitynet12" /
                           f"refineloc_i3d_predictions_iteration{iteration}.json")
    result = evaluate_detections(anet_gt, dets, subset="validation")
    got = np.append(100 * result.mAP, 100 * result.average_mAP)
    np.testing.assert_allclose(got, OFFICIAL[iteration], atol=0.01)
    assert len(result.classes) == 100 and result.num_predictions == len(dets)


def gt_set(*segs, classes=("a", "b")):
    videos = {}
    for vid, s, e, lab in segs:
        videos.setdefault(vid, VideoAnnotation(vid, "validation", 100.0, []))
        videos[vid].segments.append(Segment(s, e, lab))
    for v in videos.values():
        v.labels = tuple(sorted({s.label for s in v.segments}))
    return AnnotationSet(classes, videos)


def dets(*rows):
    return Detections.from_rows(rows)


def test_segment_iou_by_hand():
    iou = segment_iou([[0, 10], [5, 15], [20, 30]], [[0, 10], [10, 20]])
    np.testing.assert_allclose(iou, [[1.0, 0.0], [5 / 15, 5 / 15], [0.0, 0.0]])


def test_duplicate_detection_is_a_false_positive():
    gt = gt_set(("v", 0, 10, "a"))
    # the second (lower-scored) copy finds the ground truth locked: FP
    r = evaluate_detections(gt, dets(("v", 0, 10, 0.9, "a"), ("v", 0, 10, 0.8, "a")),
                            tious=[0.5])
    # precision 1 at recall 1, then 1/2: envelope keeps 1 -> AP = 1
    assert r.mAP[0] == pytest.approx(1.0)
    # if the duplicate scores higher than the match, it still matches first
    r = evaluate_detections(gt, dets(("v", 30, 40, 0.95, "a"), ("v", 0, 10, 0.8, "a"),
                                     ("v", 1, 10, 0.7, "a")), tious=[0.5])
    # FP, TP, FP: precision at recall 1 is 1/2 -> AP = 0.5
    assert r.mAP[0] == pytest.approx(0.5)


def test_prediction_takes_highest_tiou_free_ground_truth():
    gt = gt_set(("v", 0, 10, "a"), ("v", 4, 14, "a"))
    # p1 = [3, 13]: tIoU with gt1 [0, 10] = 7/13 = .54, with gt2 [4, 14] = 9/11 = .82
    #   -> takes gt2 (the highest tIoU), although gt1 comes first in the file.
    # p2 = [0, 9]: tIoU with gt1 = .9 -> gt1 is free -> TP.  AP = 1.
    # (Had p1 taken gt1, p2 would find it locked, and tIoU(p2, gt2) = 5/14 -> FP.)
    d = dets(("v", 3, 13, 0.9, "a"), ("v", 0, 9, 0.8, "a"))
    assert evaluate_detections(gt, d, tious=[0.5]).mAP[0] == pytest.approx(1.0)
    assert activitynet_map_loop(gt, d, [0.5])[0][0] == pytest.approx(1.0)


def test_precision_envelope_by_hand():
    # 3 ground truths; ranked: TP, FP, TP, FP, TP
    gt = gt_set(("v", 0, 10, "a"), ("v", 20, 30, "a"), ("v", 40, 50, "a"))
    d = dets(("v", 0, 10, 0.9, "a"), ("v", 60, 70, 0.8, "a"), ("v", 20, 30, 0.7, "a"),
             ("v", 80, 90, 0.6, "a"), ("v", 40, 50, 0.5, "a"))
    # precisions at TPs: 1, 2/3, 3/5; envelope at recall 1/3:1, 2/3: 2/3, 1: 3/5
    expected = (1 / 3) * 1 + (1 / 3) * (2 / 3) + (1 / 3) * (3 / 5)
    assert evaluate_detections(gt, d, tious=[0.5]).mAP[0] == pytest.approx(expected)
    tp = np.array([[1, 0, 1, 0, 1]])
    assert interpolated_average_precision(tp, 1 - tp, 3)[0] == pytest.approx(expected)
    # envelope: a later higher precision lifts an earlier lower one
    tp = np.array([[0, 1, 1]])  # precisions 0, 1/2, 2/3 at recall 0, .5, 1 (npos 2)
    assert interpolated_average_precision(tp, 1 - tp, 2)[0] == pytest.approx(2 / 3)


def test_tiou_exactly_at_threshold():
    gt = gt_set(("v", 0, 10, "a"))
    d = dets(("v", 0, 5, 0.9, "a"))  # tIoU exactly 0.5
    assert evaluate_detections(gt, d, tious=[0.5]).mAP[0] == 1.0          # >=
    assert evaluate_detections(gt, d, tious=[0.5], protocol="thumos14").mAP[0] == 0.0  # >


def test_empty_predictions_for_a_class_and_class_without_ground_truth():
    gt = gt_set(("v", 0, 10, "a"), ("v", 20, 30, "b"), classes=("a", "b", "c"))
    d = dets(("v", 0, 10, 0.9, "a"), ("v", 50, 60, 0.9, "c"))
    r = evaluate_detections(gt, d, tious=[0.5])
    # classes of the ground truth: a (AP 1), b (no predictions: AP 0); c not counted
    assert r.classes == ("a", "b")
    np.testing.assert_allclose(r.ap[0], [1.0, 0.0])
    assert r.mAP[0] == pytest.approx(0.5)
    assert evaluate_detections(gt, Detections.empty(), tious=[0.5]).mAP[0] == 0.0


def test_unknown_label_is_an_error_listing_labels_or_skipped():
    gt = gt_set(("v", 0, 10, "a"))
    d = dets(("v", 0, 10, 0.9, "zebra"), ("v", 0, 10, 0.8, "a"))
    with pytest.raises(WtalError, match=r"zebra.*known labels: \['a', 'b'\]"):
        evaluate_detections(gt, d, tious=[0.5])
    r = evaluate_detections(gt, d, tious=[0.5], skip_unknown_labels=True)
    assert r.num_skipped_label_predictions == 1 and r.mAP[0] == 1.0


def test_predictions_for_unknown_videos_are_false_positives_and_counted():
    gt = gt_set(("v", 0, 10, "a"))
    d = dets(("ghost", 0, 10, 0.95, "a"), ("v", 0, 10, 0.9, "a"))
    r = evaluate_detections(gt, d, tious=[0.5])
    assert r.num_unknown_video_predictions == 1
    # FP (the ghost video) then TP: precision 1/2 at recall 1
    assert r.mAP[0] == pytest.approx(0.5)


def test_thumos_protocol_is_ground_truth_centric():
    # gt1 [0,10], gt2 [2,12]; d1 [2,12] (.9), d2 [0,9] (.8).
    # THUMOS: gt1 takes its max-overlap detection d2 (.9 vs .667), gt2 takes d1 (1.0).
    # ActivityNet: d1 takes gt2 (1.0), d2 takes gt1 (.9).  Both: 2 TP at 0.85.
    gt = gt_set(("v", 0, 10, "a"), ("v", 2, 12, "a"))
    d = dets(("v", 2, 12, 0.9, "a"), ("v", 0, 9, 0.8, "a"))
    for proto in ("activitynet", "thumos14"):
        assert evaluate_detections(gt, d, tious=[0.85], protocol=proto).mAP[0] == 1.0
    # A case where they differ: gt1 [0,10], one detection d [1,10] (.9) and d' [0,10] (.5)
    # ActivityNet: d (tIoU .9) matches first, d' duplicate FP -> AP 1 (TP first).
    # THUMOS: gt1 takes the max-overlap detection d' (1.0) regardless of score ->
    #   ranking d (FP, .9) then d' (TP): precision at the TP = 1/2 -> AP 0.5.
    gt = gt_set(("v", 0, 10, "a"))
    d = dets(("v", 1, 10, 0.9, "a"), ("v", 0, 10, 0.5, "a"))
    assert evaluate_detections(gt, d, tious=[0.5]).mAP[0] == 1.0
    assert evaluate_detections(gt, d, tious=[0.5], protocol="thumos14").mAP[0] == 0.5


def test_thumos_ambiguous_false_positives_are_dropped():
    gt = gt_set(("v", 0, 10, "a"))
    d = dets(("v", 50, 60, 0.9, "a"), ("v", 0, 10, 0.5, "a"))
    r = evaluate_detections(gt, d, tious=[0.5], protocol="thumos14")
    assert r.mAP[0] == 0.5  # FP then TP, non-interpolated: 1/2
    r = evaluate_detections(gt, d, tious=[0.5], protocol="thumos14",
                            ambiguous={"v": [(55.0, 58.0)]})
    assert r.mAP[0] == 1.0  # the FP overlaps an Ambiguous segment: dropped


def test_thumos_ap_is_not_interpolated():
    # TP FP FP TP with 2 positives: non-interpolated (1 + 2/4)/2 = .75;
    # interpolated is the same here, so add a case where they differ: FP TP TP
    gt = gt_set(("v", 0, 10, "a"), ("v", 20, 30, "a"))
    d = dets(("v", 50, 60, 0.9, "a"), ("v", 0, 10, 0.8, "a"), ("v", 20, 30, 0.7, "a"))
    thumos = evaluate_detections(gt, d, tious=[0.5], protocol="thumos14").mAP[0]
    anet = evaluate_detections(gt, d, tious=[0.5]).mAP[0]
    assert thumos == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert anet == pytest.approx(0.5 * (2 / 3) + 0.5 * (2 / 3))


def test_presets():
    np.testing.assert_allclose(THUMOS_TIOUS, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert len(ACTIVITYNET_TIOUS) == 10 and ACTIVITYNET_TIOUS[-1] == 0.95


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_equals_loop_reference(seed):
    rng = np.random.default_rng(seed)
    classes = ("a", "b", "c")
    videos = {}
    for i in range(6):
        vid = f"v{i}"
        segs = []
        for _ in range(rng.integers(1, 6)):
            s = rng.uniform(0, 90)
            segs.append(Segment(s, s + rng.uniform(1, 15), str(rng.choice(classes))))
        videos[vid] = VideoAnnotation(vid, "validation", 100.0, segs)
    gt = AnnotationSet(classes, videos)
    rows = []
    for _ in range(200):
        vid = f"v{rng.integers(0, 7)}"  # v6 is unknown to the ground truth
        s = rng.uniform(0, 90)
        rows.append((vid, s, s + rng.uniform(0.5, 20), float(rng.random()),
                     str(rng.choice(classes))))
    d = Detections.from_rows(rows)
    tious = ACTIVITYNET_TIOUS + (0.1, 0.3)
    fast = evaluate_detections(gt, d, tious=tious)
    slow, slow_classes, _ = activitynet_map_loop(gt, d, tious)
    assert fast.classes == tuple(slow_classes)
    np.testing.assert_allclose(fast.mAP, slow, atol=1e-12)
