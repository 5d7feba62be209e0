"""Gradients for optimizers that step every variable."""

from __future__ import annotations

import tensorflow as tf


def zeros_for_missing(gradients, variables):
    """``gradients`` with each ``None`` replaced by zeros of its variable's shape.

    A loss may not reach a variable at all (AutoLoc: no segment kept by the
    OIC selection, so the loss is a constant).  Keras optimizers drop ``None``
    gradients with a warning (and raise when all are ``None``), which would
    also drop that step's weight decay; a zero gradient keeps every step the
    same for every variable.
    """
    return [tf.zeros_like(v) if g is None else g for g, v in zip(gradients, variables)]
