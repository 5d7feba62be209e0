"""Shape helpers: a bounded ladder of lengths (pure functions).

Why lengths are bucketed (the one statement of it; the model, the pipeline and
the configs refer here): TF's oneDNN kernels compile a primitive, with its
buffers, for every input shape they meet and keep it for the life of the
process -- about 1 MB for a 2048 -> 1024 Dense layer forward and backward,
0.1 MB for a Conv1D at D = 256.  With one shape per video length, memory grew
with the number of videos; on a ladder of ``per_octave`` lengths per doubling
the shapes are a bounded set (BENCHMARKS.md, memory).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def bucket_length(length, per_octave: int):
    """``length`` rounded up to the next step of a geometric ladder with
    ``per_octave`` steps per doubling: multiples of ``2**floor(log2 T) / per_octave``
    (exact below ``per_octave``).  The rounding adds less than ``1 / per_octave``
    of ``T`` and leaves ``per_octave`` distinct lengths per octave.  ``per_octave``
    must be a power of two; 0 turns the rounding off.  Works on Python ints and
    int32 tensors alike."""
    if per_octave <= 0:
        return length
    if per_octave & (per_octave - 1):
        raise ValueError(f"per_octave must be a power of two, got {per_octave}")
    if isinstance(length, (int, np.integer)):
        quantum = max(1, (1 << (max(int(length), 1).bit_length() - 1)) // per_octave)
        return -(-int(length) // quantum) * quantum
    length = tf.convert_to_tensor(length, tf.int32)
    positive = tf.maximum(length, 1)
    exponent = tf.cast(tf.math.floor(tf.math.log(tf.cast(positive, tf.float64)) / np.log(2.0)),
                       tf.int32)
    # float rounding can miss by one at exact powers of two: correct both ways
    exponent += tf.cast(tf.bitwise.left_shift(1, exponent + 1) <= positive, tf.int32)
    exponent -= tf.cast(tf.bitwise.left_shift(1, exponent) > positive, tf.int32)
    quantum = tf.maximum(1, tf.bitwise.left_shift(1, exponent) // per_octave)
    return (length + quantum - 1) // quantum * quantum


__all__ = ["bucket_length"]
