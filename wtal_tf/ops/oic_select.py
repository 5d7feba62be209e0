"""AutoLoc's OIC layer as graph ops: selection, NMS, scoring (AutoLoc §4.3).

For each considered class: discard positions whose CAS < ``cas_threshold``;
keep per position the anchor with the lowest OIC; drop segments with OIC >
``oic_threshold``; class-wise NMS at ``nms_iou``; score = 1 - OIC.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from wtal_tf.ops import nms, oic


@dataclasses.dataclass
class Selection:
    """Kept segments of one video (padded to ``[C, N]``, ``valid`` marks real ones)."""

    classes: tf.Tensor       # [C] the considered class indices
    positions: tf.Tensor     # [C, N] int32 position of each kept segment
    valid: tf.Tensor         # [C, N] bool
    losses: tf.Tensor        # [C, N] loss (OIC or the ablation's) of kept segments (0 if not)
    oic: tf.Tensor           # [C, N] OIC value of kept segments
    inner: tf.Tensor         # [C, N] mean inner activation A_i of kept segments
    outer: tf.Tensor         # [C, N] mean outer activation A_o
    x1: tf.Tensor            # [C, N] inner boundaries (continuous snippets)
    x2: tf.Tensor            # [C, N]


def select(cas: tf.Tensor, boundaries, classes: tf.Tensor, *, cas_threshold: float,
           oic_threshold: float, nms_iou: float, max_per_class=None,
           loss: str = "oic") -> Selection:
    """Runs the OIC layer on one video.

    Args:
        cas: ``[T, K]`` gated CAS in [0, 1].
        boundaries: ``(x1, x2, X1, X2)`` each ``[T, M]`` from ``decode_boundaries``.
        classes: ``[C]`` int32 class indices to consider (ground truth in
            training, all or top-k at test).
        loss: ``"oic"`` or ``"inner_only"`` (the training signal; selection
            always uses OIC).
        max_per_class: NMS output size per class (default T).
    """
    x1, x2, o1, o2 = boundaries
    classes = tf.cast(classes, tf.int32)
    t_len = tf.shape(x1)[0]
    values, a_i, a_o = oic.oic_loss_with_stats(cas, x1, x2, o1, o2, classes)  # [T, M, C]
    train_values = (values if loss == "oic"
                    else oic.inner_only_loss(cas, x1, x2, o1, o2, classes))
    best = tf.argmin(tf.stop_gradient(values), axis=1, output_type=tf.int32)  # [T, C]
    t_idx = tf.broadcast_to(tf.range(t_len)[:, None], tf.shape(best))
    c_idx = tf.broadcast_to(tf.range(tf.shape(classes)[0])[None, :], tf.shape(best))
    gather = tf.stack([t_idx, best, c_idx], axis=-1)                   # [T, C, 3]
    best_oic = tf.gather_nd(values, gather)                            # [T, C]
    best_loss = tf.gather_nd(train_values, gather)
    seg_x1 = tf.gather_nd(x1, tf.stack([t_idx, best], -1))             # [T, C]
    seg_x2 = tf.gather_nd(x2, tf.stack([t_idx, best], -1))
    cas_c = tf.gather(cas, classes, axis=1)                            # [T, C]
    keep = (cas_c >= cas_threshold) & (tf.stop_gradient(best_oic) <= oic_threshold)
    scores = tf.where(keep, 1.0 - tf.stop_gradient(best_oic), -1.0)   # valid scores >= 0
    max_out = t_len if max_per_class is None else max_per_class
    idx, num = nms.batched_nms_1d(tf.transpose(tf.stop_gradient(seg_x1)),
                                  tf.transpose(tf.stop_gradient(seg_x2)) + 1.0,
                                  tf.transpose(scores), max_output=max_out,
                                  iou_threshold=nms_iou, score_threshold=-0.5)
    valid = tf.range(tf.shape(idx)[1])[None, :] < num[:, None]         # [C, N]
    take = tf.stack([idx, tf.broadcast_to(tf.range(tf.shape(classes)[0])[:, None],
                                          tf.shape(idx))], axis=-1)    # [C, N, 2] (t, c)
    zeros = tf.zeros(tf.shape(idx), best_oic.dtype)
    return Selection(
        classes=classes, positions=idx, valid=valid,
        losses=tf.where(valid, tf.gather_nd(best_loss, take), zeros),
        oic=tf.where(valid, tf.gather_nd(best_oic, take), zeros),
        inner=tf.where(valid, tf.gather_nd(tf.gather_nd(a_i, gather), take), zeros),
        outer=tf.where(valid, tf.gather_nd(tf.gather_nd(a_o, gather), take), zeros),
        x1=tf.gather_nd(seg_x1, take), x2=tf.gather_nd(seg_x2, take))


def flatten_detections(sel: Selection, max_detections: int):
    """Top ``max_detections`` kept segments by score, padded.

    Returns:
        ``(segments [N, 2] inclusive snippets, scores [N], classes [N] int32,
        num_detections [])``; padding rows are zero (classes -1).
    """
    scores = tf.where(sel.valid, 1.0 - sel.oic, -1.0)
    flat_scores = tf.reshape(scores, [-1])
    flat_x1, flat_x2 = tf.reshape(sel.x1, [-1]), tf.reshape(sel.x2, [-1])
    flat_cls = tf.reshape(tf.broadcast_to(sel.classes[:, None], tf.shape(sel.x1)), [-1])
    n = tf.minimum(max_detections, tf.size(flat_scores))
    top = tf.math.top_k(flat_scores, k=n)
    ok = top.values > -0.5
    num = tf.reduce_sum(tf.cast(ok, tf.int32))
    pad = max_detections - n
    segs = tf.stack([tf.gather(flat_x1, top.indices), tf.gather(flat_x2, top.indices)], -1)
    segs = tf.where(ok[:, None], segs, 0.0)
    return (tf.pad(segs, [[0, pad], [0, 0]]),
            tf.pad(tf.where(ok, top.values, 0.0), [[0, pad]]),
            tf.pad(tf.where(ok, tf.gather(flat_cls, top.indices), -1), [[0, pad]],
                   constant_values=-1),
            num)
