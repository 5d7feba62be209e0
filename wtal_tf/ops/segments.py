"""Mask -> segments, RefineLoc's segment prediction (§3.1, eq. 3), as graph ops.

Snippet indices are inclusive ``[x1, x2]``; seconds are
``[x1, x2 + 1) * seconds_per_snippet`` (``wtal_tf.data.video``).  Every
function here works in a ``tf.function`` with unknown ``T`` (including
``T = 1``), so the SavedModel export reuses it unchanged.
"""

from __future__ import annotations

import tensorflow as tf


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
                     max_gap: int = 1):
    """RefineLoc's action segment prediction module for one video (§3.1).

    Drop snippets whose background probability ``1 - p_fg`` exceeds
    ``alpha_a``; for each of the ``top_k`` classes of ŷ, drop snippets whose
    class score is below ``alpha_c``; group snippets separated by at most
    ``max_gap`` dropped snippets; score = mean over the segment of
    ``(p_fg + C̄_n)`` + ŷ_n (eq. 3 with p_fg for Ā^time, see the model docs);
    inflate by ``inflate`` snippets each side, clamped to the video.

    Args:
        class_scores: ``[T, K]`` softmax class scores C̄.
        p_fg: ``[T]`` foreground probability.
        video_scores: ``[K]`` ŷ.

    Returns:
        ``(segments [N, 2] float32 inclusive snippet indices, scores [N],
        classes [N] int32)``.
    """
    t_len = tf.shape(class_scores)[0]
    k = tf.minimum(top_k, tf.shape(video_scores)[0])
    top = tf.math.top_k(video_scores, k=k).indices
    keep_fg = (1.0 - p_fg) <= alpha_a

    def one_class(c):
        scores_c = class_scores[:, c]
        starts, ends = mask_to_runs(keep_fg & (scores_c >= alpha_c), max_gap)
        score = segment_means(p_fg + scores_c, starts, ends) + video_scores[c]
        x1 = tf.maximum(starts - inflate, 0)
        x2 = tf.minimum(ends + inflate, t_len - 1)
        seg = tf.cast(tf.stack([x1, x2], axis=1), tf.float32)
        return seg, score, tf.fill(tf.shape(starts), c)

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

