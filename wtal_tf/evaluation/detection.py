"""Detection mAP under the ActivityNet convention, and the THUMOS'14 protocol.

ActivityNet (``eval_detection.py``, the default): per class, predictions in
descending score; each takes the highest-tIoU *free* ground truth of its class
in its video with ``tIoU >= threshold``, otherwise it is a false positive;
AP is the VOC2011 all-point interpolated area under the precision envelope;
mAP is the mean over the classes present in the ground truth.

THUMOS'14 (``TH14evalDet_Updated.m``, an option): per class and video, each
ground truth in file order takes the free detection of maximum tIoU when that
tIoU is ``> threshold`` (regardless of score); remaining detections are false
positives, except those overlapping an Ambiguous segment of their video,
which are dropped; AP = sum of precision at each true positive / #positives.

The greedy ActivityNet matching is vectorised: predictions are grouped by
(video, class) and the k-th prediction of every group is processed in one
NumPy step for all tIoU thresholds at once, so the Python loop runs over the
largest group size, not over predictions.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from wtal_tf.configs.experiments import ANET_TIOUS, THUMOS_TIOUS
from wtal_tf.data.detections import Detections
from wtal_tf.data.video import AnnotationSet
from wtal_tf.errors import WtalError

#: THUMOS'14 and ActivityNet reporting thresholds (cited where they are defined, configs/).
ACTIVITYNET_TIOUS = ANET_TIOUS
PROTOCOLS = ("activitynet", "thumos14")


def segment_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Temporal IoU between every pair of segments.

    Args:
        pred: ``[N, 2]`` (start, end).
        gt: ``[M, 2]`` (start, end).

    Returns:
        ``[N, M]`` tIoU, computed as ActivityNet does: intersection clipped at
        0, union = sum of lengths - intersection (a degenerate ground truth
        with end <= start is kept, as the official tools keep it).
    """
    pred = np.asarray(pred, float).reshape(-1, 2)
    gt = np.asarray(gt, float).reshape(-1, 2)
    inter = np.clip(np.minimum(pred[:, None, 1], gt[None, :, 1])
                    - np.maximum(pred[:, None, 0], gt[None, :, 0]), 0, None)
    union = (pred[:, None, 1] - pred[:, None, 0]) + (gt[None, :, 1] - gt[None, :, 0]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def _cumulative(tp, fp, npos):
    """``(tp, tp_cumsum, fp_cumsum)`` as float rows, or the AP of the trivial
    cases (NaN without positives, 0 without predictions) as ``early``."""
    tp = np.atleast_2d(tp).astype(float)
    fp = np.atleast_2d(fp).astype(float)
    if npos == 0:
        return None, np.full(tp.shape[0], np.nan)
    if tp.shape[1] == 0:
        return None, np.zeros(tp.shape[0])
    return (tp, np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)), None


def interpolated_average_precision(tp: np.ndarray, fp: np.ndarray, npos: int) -> np.ndarray:
    """VOC2011 all-point interpolated AP for rows of TP/FP flags in score order.

    Args:
        tp, fp: ``[n_thresholds, N]`` 0/1 arrays in descending-score order.
        npos: number of ground-truth instances.

    Returns:
        ``[n_thresholds]`` AP.
    """
    sums, early = _cumulative(tp, fp, npos)
    if early is not None:
        return early
    tp, tp_c, fp_c = sums
    rec = tp_c / npos
    prec = tp_c / (tp_c + fp_c)
    n = tp.shape[0]
    mrec = np.hstack([np.zeros((n, 1)), rec, np.ones((n, 1))])
    mprec = np.hstack([np.zeros((n, 1)), prec, np.zeros((n, 1))])
    # precision envelope: running max from the right
    mprec = np.maximum.accumulate(mprec[:, ::-1], axis=1)[:, ::-1]
    # area where recall changes (flat recall steps add nothing)
    return np.sum(np.diff(mrec, axis=1) * mprec[:, 1:], axis=1)


def thumos_average_precision(tp: np.ndarray, fp: np.ndarray, npos: int) -> np.ndarray:
    """THUMOS'14 AP: sum of precision at each true positive / #positives."""
    sums, early = _cumulative(tp, fp, npos)
    if early is not None:
        return early
    tp, tp_c, fp_c = sums
    prec = tp_c / np.maximum(tp_c + fp_c, 1e-12)
    return np.sum(prec * tp, axis=1) / npos


@dataclasses.dataclass
class DetectionResult:
    """mAP per threshold, AP per class, and bookkeeping."""

    protocol: str
    tious: np.ndarray            # [n_thr]
    classes: tuple[str, ...]     # the ground truth's classes (those with instances)
    ap: np.ndarray               # [n_thr, n_classes]
    num_predictions: int
    num_ground_truth: int
    num_unknown_video_predictions: int = 0
    num_skipped_label_predictions: int = 0

    @property
    def mAP(self) -> np.ndarray:  # noqa: N802 -- the field's name
        return np.nanmean(self.ap, axis=1) if self.ap.size else np.zeros(len(self.tious))

    @property
    def average_mAP(self) -> float:  # noqa: N802
        return float(np.mean(self.mAP))

    def mAP_at(self, tiou: float) -> float:  # noqa: N802
        i = int(np.argmin(np.abs(self.tious - tiou)))
        if abs(self.tious[i] - tiou) > 1e-6:
            raise WtalError(f"tIoU {tiou} was not evaluated (have {list(self.tious)})")
        return float(self.mAP[i])

    def to_dict(self) -> dict:
        return {"protocol": self.protocol,
                "tious": [float(t) for t in self.tious],
                "mAP": [float(m) for m in self.mAP],
                "average_mAP": self.average_mAP,
                "per_class_AP": {c: [float(a) for a in self.ap[:, k]]
                                 for k, c in enumerate(self.classes)},
                "num_predictions": self.num_predictions,
                "num_ground_truth": self.num_ground_truth,
                "num_unknown_video_predictions": self.num_unknown_video_predictions,
                "num_skipped_label_predictions": self.num_skipped_label_predictions}

    def table(self, per_class: bool = False) -> str:
        head = "tIoU     " + " ".join(f"{t:>6.2f}" for t in self.tious) + "    avg"
        row = "mAP (%)  " + " ".join(f"{100 * m:>6.2f}" for m in self.mAP) + \
            f" {100 * self.average_mAP:>6.2f}"
        lines = [f"protocol: {self.protocol}  predictions: {self.num_predictions}  "
                 f"ground truth: {self.num_ground_truth}", head, row]
        if self.num_unknown_video_predictions:
            lines.append(f"note: {self.num_unknown_video_predictions} predictions are for "
                         "videos absent from the ground truth (counted as false positives)")
        if self.num_skipped_label_predictions:
            lines.append(f"note: {self.num_skipped_label_predictions} predictions with "
                         "labels unknown to the ground truth were skipped")
        if per_class:
            width = max(len(c) for c in self.classes) if self.classes else 5
            for k, c in enumerate(self.classes):
                lines.append(f"{c:<{width}} " + " ".join(
                    f"{100 * a:>6.2f}" for a in self.ap[:, k]) +
                    f" {100 * np.mean(self.ap[:, k]):>6.2f}")
        return "\n".join(lines)


def _gt_table(ground_truth: AnnotationSet, subset):
    vids, starts, ends, labels = [], [], [], []
    videos = (ground_truth.videos.values() if subset is None
              else ground_truth.subset([subset] if isinstance(subset, str) else subset))
    known_videos = set()
    for v in videos:
        known_videos.add(v.video_id)
        for s in v.segments:
            vids.append(v.video_id)
            starts.append(s.start)
            ends.append(s.end)
            labels.append(s.label)
    return (np.asarray(vids, str), np.asarray(starts, float), np.asarray(ends, float),
            np.asarray(labels, str), known_videos)


def evaluate_detections(ground_truth: AnnotationSet, detections: Detections, *,
                        tious: Sequence[float] | None = None,
                        protocol: str = "activitynet", subset=None,
                        ambiguous: Mapping[str, list] | None = None,
                        skip_unknown_labels: bool = False) -> DetectionResult:
    """mAP of ``detections`` against ``ground_truth``.

    Args:
        ground_truth: annotations (any reader's output).
        detections: predictions in seconds.
        tious: thresholds; default the protocol's preset.
        protocol: ``"activitynet"`` (default) or ``"thumos14"``.
        subset: a subset name (or names) of the ground truth to evaluate on;
            ``None`` uses every video.
        ambiguous: THUMOS'14 Ambiguous segments per video (``thumos14`` only).
        skip_unknown_labels: drop predictions whose label is not a ground-truth
            class instead of raising.

    Returns:
        A :class:`DetectionResult`.
    """
    if protocol not in PROTOCOLS:
        raise WtalError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    if tious is None:
        tious = ACTIVITYNET_TIOUS if protocol == "activitynet" else THUMOS_TIOUS
    tious = np.asarray(tious, float)
    gt_vid, gt_s, gt_e, gt_lab, known_videos = _gt_table(ground_truth, subset)
    classes = tuple(c for c in ground_truth.classes if c in set(gt_lab.tolist()))
    # Labels present in the GT but missing from its class list still count.
    extra = sorted(set(gt_lab.tolist()) - set(classes))
    classes = classes + tuple(extra)
    allowed = set(ground_truth.classes) | set(classes)
    unknown = sorted(set(detections.labels.tolist()) - allowed)
    skipped = 0
    if unknown:
        if not skip_unknown_labels:
            raise WtalError(
                f"{len(unknown)} prediction labels are unknown to the ground truth: "
                f"{unknown[:10]}{' ...' if len(unknown) > 10 else ''}; known labels: "
                f"{sorted(allowed)} (pass --skip-unknown-labels to drop them)")
        keep = ~np.isin(detections.labels, unknown)
        skipped = int(np.count_nonzero(~keep))
        detections = detections.select(keep)
    num_unknown_video = int(np.count_nonzero(~np.isin(detections.video_ids,
                                                      list(known_videos))))
    ap = np.zeros((len(tious), len(classes)))
    fn = _activitynet_class if protocol == "activitynet" else _thumos_class
    for k, c in enumerate(classes):
        dm = detections.labels == c
        gm = gt_lab == c
        if not dm.any():  # no predictions for a ground-truth class: AP 0
            continue
        ap[:, k] = fn(detections.video_ids[dm], detections.starts[dm], detections.ends[dm],
                      detections.scores[dm], gt_vid[gm], gt_s[gm], gt_e[gm], tious,
                      ambiguous)
    return DetectionResult(protocol, tious, classes, ap, len(detections), len(gt_lab),
                           num_unknown_video, skipped)


def _group_index(pred_vid, gt_vid):
    """Maps predictions and ground truths of one class to per-video groups."""
    videos, inverse = np.unique(np.concatenate([pred_vid, gt_vid]), return_inverse=True)
    return len(videos), inverse[: len(pred_vid)], inverse[len(pred_vid):]


def _padded_gt(n_groups, g_group, g_s, g_e):
    """Ground truth as ``[n_groups, G_max]`` arrays (file order kept)."""
    counts = np.bincount(g_group, minlength=n_groups)
    g_max = int(counts.max()) if len(counts) and counts.max() > 0 else 0
    order = np.argsort(g_group, kind="stable")
    starts_at = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(g_group)) - starts_at[g_group[order]]
    s = np.zeros((n_groups, max(g_max, 1)))
    e = np.zeros_like(s)
    valid = np.zeros(s.shape, bool)
    s[g_group[order], slot] = g_s[order]
    e[g_group[order], slot] = g_e[order]
    valid[g_group[order], slot] = True
    return s, e, valid


def _pair_iou(p_s, p_e, g_s, g_e):
    """tIoU of each prediction (``[N]``) with its group's ground truth ``[N, G]``."""
    inter = np.clip(np.minimum(p_e[:, None], g_e) - np.maximum(p_s[:, None], g_s), 0, None)
    union = (p_e - p_s)[:, None] + (g_e - g_s) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match_activitynet(p_vid, p_s, p_e, p_score, g_vid, g_s, g_e, tious) -> np.ndarray:
    """Greedy ActivityNet matching of one class's predictions.

    Returns:
        ``[n_thresholds, N]`` bool, True where a prediction (in the given
        order) is a true positive.
    """
    n, n_thr = len(p_vid), len(tious)
    if n == 0 or len(g_vid) == 0:
        return np.zeros((n_thr, n), bool)
    order = np.argsort(-np.asarray(p_score), kind="stable")
    p_vid, p_s, p_e = p_vid[order], p_s[order], p_e[order]
    n_groups, p_group, g_group = _group_index(p_vid, g_vid)
    gs, ge, valid = _padded_gt(n_groups, g_group, g_s, g_e)
    iou = _pair_iou(p_s, p_e, gs[p_group], ge[p_group])          # [N, G]
    iou = np.where(valid[p_group], iou, -1.0)
    # rank of each prediction within its (video) group, in score order
    g_order = np.argsort(p_group, kind="stable")
    counts = np.bincount(p_group, minlength=n_groups)
    starts_at = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, int)
    rank[g_order] = np.arange(n) - starts_at[p_group[g_order]]
    by_rank = np.argsort(rank, kind="stable")
    rank_counts = np.bincount(rank)
    bounds = np.concatenate([[0], np.cumsum(rank_counts)])
    locked = np.zeros((n_groups, gs.shape[1], n_thr), bool)
    tp_sorted = np.zeros((n_thr, n), bool)
    for r in range(len(rank_counts)):
        idx = by_rank[bounds[r]:bounds[r + 1]]        # the r-th prediction of each group
        grp = p_group[idx]
        cand_iou = iou[idx][:, :, None]                # [m, G, 1]
        ok = (cand_iou >= tious[None, None, :]) & ~locked[grp]
        masked = np.where(ok, cand_iou, -np.inf)       # [m, G, T]
        best = np.argmax(masked, axis=1)               # [m, T]
        hit = np.take_along_axis(ok, best[:, None, :], axis=1)[:, 0, :]
        rows, thr = np.nonzero(hit)
        locked[grp[rows], best[rows, thr], thr] = True
        tp_sorted[:, idx] = hit.T
    tp = np.zeros_like(tp_sorted)
    tp[:, order] = tp_sorted
    return tp


def _activitynet_class(p_vid, p_s, p_e, p_score, g_vid, g_s, g_e, tious, _ambiguous):
    npos = len(g_vid)
    tp = match_activitynet(p_vid, p_s, p_e, p_score, g_vid, g_s, g_e, tious)
    order = np.argsort(-np.asarray(p_score), kind="stable")
    tp = tp[:, order]
    return interpolated_average_precision(tp, ~tp, npos)


def _thumos_class(p_vid, p_s, p_e, p_score, g_vid, g_s, g_e, tious, ambiguous):
    npos = len(g_vid)
    out = np.zeros(len(tious))
    amb_drop = np.zeros(len(p_vid), bool)
    if ambiguous:
        for vid in np.unique(p_vid):
            segs = ambiguous.get(str(vid))
            if segs:
                m = p_vid == vid
                inter = (np.minimum(p_e[m][:, None], np.asarray(segs)[None, :, 1])
                         - np.maximum(p_s[m][:, None], np.asarray(segs)[None, :, 0]))
                amb_drop[m] = np.any(inter > 0, axis=1)
    order_by_video = {}
    for i, vid in enumerate(p_vid):
        order_by_video.setdefault(vid, []).append(i)
    gt_by_video = {}
    for j, vid in enumerate(g_vid):
        gt_by_video.setdefault(vid, []).append(j)
    for t, thr in enumerate(tious):
        is_tp = np.zeros(len(p_vid), bool)
        for vid, gidx in gt_by_video.items():
            pidx = np.asarray(order_by_video.get(vid, []), int)
            if len(pidx) == 0:
                continue
            ov = segment_iou(np.stack([g_s[gidx], g_e[gidx]], 1),
                             np.stack([p_s[pidx], p_e[pidx]], 1))  # [G, P]
            free = np.ones(len(pidx), bool)
            for k in range(len(gidx)):  # ground truth in file order
                cand = np.where(free, ov[k], -np.inf)
                m = int(np.argmax(cand))
                if free[m] and ov[k, m] > thr:
                    free[m] = False
                    is_tp[pidx[m]] = True
        keep = is_tp | ~amb_drop  # false positives on Ambiguous segments are dropped
        order = np.argsort(-p_score[keep], kind="stable")
        tp = is_tp[keep][order]
        out[t] = thumos_average_precision(tp[None], ~tp[None], npos)[0]
    return out
