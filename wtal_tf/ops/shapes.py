"""Shape helpers: a bounded ladder of lengths (pure functions)."""

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
