"""1-D non-maximum suppression on TF's image NMS ops (exportable, any length).

A 1-D segment ``[s, e]`` becomes the box ``[0, s, 1, e]``: all boxes share
the same vertical extent, so box IoU equals temporal IoU.
"""

from __future__ import annotations

import tensorflow as tf


def segments_to_boxes(starts: tf.Tensor, ends: tf.Tensor) -> tf.Tensor:
    zeros = tf.zeros_like(starts)
    return tf.stack([zeros, starts, tf.ones_like(starts), ends], axis=-1)


def batched_nms_1d(starts: tf.Tensor, ends: tf.Tensor, scores: tf.Tensor, *,
                   max_output: int | tf.Tensor, iou_threshold: float,
                   score_threshold: float = float("-inf")):
    """Greedy NMS run independently for each row (class) of ``[C, N]`` segments.

    Returns:
        ``(indices [C, max_output] int32, num_valid [C] int32)``; entries past
        ``num_valid`` are padding.
    """
    boxes = segments_to_boxes(starts, ends)
    n = tf.shape(scores)[1]
    max_output = tf.minimum(tf.cast(max_output, tf.int32), tf.maximum(n, 1))

    def empty():
        c = tf.shape(scores)[0]
        return tf.zeros([c, max_output], tf.int32), tf.zeros([c], tf.int32)

    def one_row(args):
        # One class at a time: the un-batched kernel (NonMaxSuppressionV4) costs
        # O(N log N + N * max_output), linear in N for a bounded output; the
        # batched "padded" algorithm is quadratic in N.
        # (pad_to_max_output_size=True would switch to the tiled, quadratic
        # algorithm: pad by hand instead.)
        row_boxes, row_scores = args
        idx = tf.image.non_max_suppression(row_boxes, row_scores, max_output_size=max_output,
                                           iou_threshold=iou_threshold,
                                           score_threshold=score_threshold)
        valid = tf.shape(idx)[0]
        return tf.pad(tf.cast(idx, tf.int32), [[0, max_output - valid]]), valid

    def run():
        return tf.map_fn(one_row, (boxes, scores),
                         fn_output_signature=(tf.TensorSpec([None], tf.int32),
                                              tf.TensorSpec([], tf.int32)))

    return tf.cond(n > 0, run, empty)
