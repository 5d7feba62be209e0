"""Mask -> segments, RefineLoc's segment prediction (§3.1, eq. 3), as graph ops.

Snippet indices are inclusive ``[x1, x2]``; seconds are
``[x1, x2 + 1) * seconds_per_snippet`` (``wtal_tf.data.video``).  Every
function here works in a ``tf.function`` with unknown ``T`` (including
``T = 1``), so the SavedModel export reuses it unchanged.
"""

from __future__ import annotations

import tensorflow as tf

from wtal_tf.ops.nms import segments_to_boxes


def mask_to_runs(mask: tf.Tensor, max_gap: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
    """Runs of True in a ``[T]`` mask, bridging gaps of at most ``max_gap``.

    Returns:
        ``(starts, ends)`` int32 ``[N]``, inclusive snippet indices.
    """
    m = tf.cast(tf.reshape(mask, [-1]), tf.int32)
    padded = tf.pad(m, [[1, 1]])
    diff = padded[1:] - padded[:-1]
    starts = tf.cast(tf.where(tf.equal(diff, 1))[:, 0], tf.int32)
    ends = tf.cast(tf.where(tf.equal(diff, -1))[:, 0], tf.int32) - 1
    # a run joins the previous one when the gap between them is <= max_gap
    gap = starts[1:] - ends[:-1] - 1
    new_group = tf.concat([tf.ones([tf.minimum(tf.size(starts), 1)], tf.int32),
                           tf.cast(gap > max_gap, tf.int32)], axis=0)
    group = tf.cumsum(new_group) - 1
    n = tf.reduce_sum(new_group)
    return (tf.math.unsorted_segment_min(starts, group, n),
            tf.math.unsorted_segment_max(ends, group, n))


def segment_means(values: tf.Tensor, starts: tf.Tensor, ends: tf.Tensor) -> tf.Tensor:
    """Mean of ``values`` ``[T]`` over each inclusive ``[start, end]`` (prefix sums)."""
    c = tf.concat([[0.0], tf.cumsum(tf.cast(values, tf.float32))], axis=0)
    total = tf.gather(c, ends + 1) - tf.gather(c, starts)
    return total / tf.cast(ends - starts + 1, tf.float32)


def predict_segments(class_scores: tf.Tensor, p_fg: tf.Tensor, video_scores: tf.Tensor, *,
                     alpha_a: float, alpha_c: float, top_k: int, inflate: int = 2,
                     max_gap: int = 1, dilation: int = 0, extra_end: int = 0,
                     score_margin: int = 0):
    """RefineLoc's action segment prediction module for one video (§3.1).

    Drop snippets whose background probability ``1 - p_fg`` exceeds
    ``alpha_a``; for each of the ``top_k`` classes of ŷ, drop snippets whose
    class score is below ``alpha_c``; group snippets separated by at most
    ``max_gap`` dropped snippets; score = mean over the segment of
    ``(p_fg + C̄_n)`` + ŷ_n (eq. 3 with p_fg for Ā^time, see the model docs);
    inflate by ``inflate`` snippets each side, clamped to the video.

    The released code's variant (NOTES): a 3-wide binary dilation bridges
    gaps of 2 and widens each run by 1 before it is scored (``max_gap=2,
    dilation=1``); its pseudo labels gain one more snippet at the end from a
    seconds -> snippet round trip (``extra_end=1``).  ``score_margin`` scores
    each run over ``score_margin`` more snippets on each side without widening
    it (ours: the release's dilation without its widening).

    Args:
        class_scores: ``[T, K]`` softmax class scores C̄.
        p_fg: ``[T]`` foreground probability.
        video_scores: ``[K]`` ŷ.

    Returns:
        ``(segments [N, 2] float32 inclusive snippet indices, scores [N],
        classes [N] int32)``.
    """
    t_len = tf.shape(class_scores)[0]
    keep_fg = (1.0 - p_fg) <= alpha_a

    def one_class(c):
        scores_c = class_scores[:, c]
        starts, ends = mask_to_runs(keep_fg & (scores_c >= alpha_c), max_gap)
        starts = tf.maximum(starts - dilation, 0)
        ends = tf.minimum(ends + dilation, t_len - 1)
        score = segment_means(p_fg + scores_c, tf.maximum(starts - score_margin, 0),
                              tf.minimum(ends + score_margin, t_len - 1)) + video_scores[c]
        x1 = tf.maximum(starts - inflate, 0)
        x2 = tf.minimum(ends + inflate + extra_end, t_len - 1)
        seg = tf.cast(tf.stack([x1, x2], axis=1), tf.float32)
        return seg, score, tf.fill(tf.shape(starts), c)

    return _over_top_classes(one_class, video_scores, top_k)



def contrast_scores(signal: tf.Tensor, starts: tf.Tensor, ends: tf.Tensor,
                    inflation: float = 0.25) -> tf.Tensor:
    """Outer-inner contrast of each inclusive run: mean inside - mean of the outer
    area, each side ``max(inflation * length, 1)`` snippets, clipped to the video
    (AutoLoc's OIC with the sign flipped; a run filling the video has contrast
    = its inner mean).
    """
    t_len = tf.shape(signal)[0]
    c = tf.concat([[0.0], tf.cumsum(tf.cast(signal, tf.float32))], axis=0)
    length = tf.cast(ends - starts + 1, tf.float32)
    side = tf.cast(tf.maximum(tf.round(inflation * length), 1.0), tf.int32)
    o1 = tf.maximum(starts - side, 0)
    o2 = tf.minimum(ends + side, t_len - 1)
    inner = tf.gather(c, ends + 1) - tf.gather(c, starts)
    outer = tf.gather(c, o2 + 1) - tf.gather(c, o1) - inner
    n_out = tf.cast(o2 - o1 + 1, tf.float32) - length
    outer_mean = tf.where(n_out > 0, outer / tf.maximum(n_out, 1.0), 0.0)
    return inner / length - outer_mean


def multi_threshold_segments(class_scores: tf.Tensor, p_fg: tf.Tensor, video_scores: tf.Tensor,
                             *, top_k: int, num_thresholds: int = 10, nms_iou: float = 0.5,
                             inflation: float = 0.25, max_gap: int = 0):
    """Proposals at many thresholds, scored by outer-inner contrast, class-wise NMS.

    Beyond both papers (as later WTAL methods do): the fixed ``alpha_A`` /
    ``alpha_C`` of RefineLoc's segment prediction depend on the CAS's absolute
    scale, which moves with the data and the training.  Here, for each of the
    ``top_k`` classes of ŷ, the signal ``s_t = C̄_t,c · p_fg_t`` is
    thresholded at ``num_thresholds`` levels evenly spaced between its minimum
    and maximum over the video (scale-free); every run at every level is a
    proposal, scored by its outer-inner contrast of ``s`` plus ŷ_c, and
    proposals of a class are merged by NMS at ``nms_iou``.

    Returns:
        like :func:`predict_segments` (no inflation: the levels give loose
        and tight proposals, the contrast picks).
    """
    def one_class(c):
        signal = class_scores[:, c] * p_fg
        lo, hi = tf.reduce_min(signal), tf.reduce_max(signal)
        starts, ends = [], []
        for j in range(1, num_thresholds + 1):  # static: a config value
            level = lo + (hi - lo) * (j / (num_thresholds + 1.0))
            s, e = mask_to_runs(signal > level, max_gap)
            starts.append(s)
            ends.append(e)
        starts, ends = tf.concat(starts, 0), tf.concat(ends, 0)
        score = contrast_scores(signal, starts, ends, inflation) + video_scores[c]
        s_f, e_f = tf.cast(starts, tf.float32), tf.cast(ends, tf.float32)
        idx = tf.image.non_max_suppression(
            segments_to_boxes(s_f, e_f + 1.0), score,
            max_output_size=tf.maximum(tf.size(score), 1), iou_threshold=nms_iou)
        seg = tf.stack([tf.gather(s_f, idx), tf.gather(e_f, idx)], axis=1)
        return seg, tf.gather(score, idx), tf.fill(tf.shape(idx), c)

    return _over_top_classes(one_class, video_scores, top_k)


def _over_top_classes(one_class, video_scores, top_k: int):
    """``one_class(c) -> (segments, scores, classes)`` for the ``top_k`` classes of
    ŷ (fewer when K < top_k), concatenated."""
    k = tf.minimum(top_k, tf.shape(video_scores)[0])
    top = tf.math.top_k(video_scores, k=k).indices
    segs, scores, classes = [], [], []
    for i in range(top_k):  # static: top_k is a config value
        seg, score, cls = tf.cond(
            i < k, lambda i=i: one_class(top[i]),
            lambda: (tf.zeros([0, 2]), tf.zeros([0]), tf.zeros([0], tf.int32)))
        segs.append(seg)
        scores.append(score)
        classes.append(cls)
    return (tf.reshape(tf.concat(segs, 0), [-1, 2]), tf.concat(scores, 0),
            tf.cast(tf.concat(classes, 0), tf.int32))


def segments_from_config(class_scores, p_fg, video_scores, cfg):
    """The configured segment prediction (``cfg``: a ``SegmentPredictionConfig``)."""
    if cfg.method == "multi_threshold":
        return multi_threshold_segments(class_scores, p_fg, video_scores, top_k=cfg.top_k,
                                        num_thresholds=cfg.num_thresholds,
                                        nms_iou=cfg.nms_iou, max_gap=0)
    if cfg.method != "fixed":
        raise ValueError(f"unknown segment prediction method {cfg.method!r}")
    return predict_segments(class_scores, p_fg, video_scores, alpha_a=cfg.alpha_a,
                            alpha_c=cfg.alpha_c, top_k=cfg.top_k, inflate=cfg.inflate,
                            max_gap=cfg.max_gap, dilation=cfg.dilation,
                            extra_end=cfg.extra_end, score_margin=cfg.score_margin)
