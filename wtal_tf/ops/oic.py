"""AutoLoc's boundary transform and Outer-Inner-Contrastive loss (AutoLoc §3, §4.3).

Units are snippets.  A segment ``[x1, x2]`` is inclusive, so it spans
``x2 - x1 + 1`` snippets (eq. 1); boundaries are continuous and are rounded
to the nearest snippet (``floor(x + 0.5)``) to read the CAS.

Clipping rule (documented, used everywhere): the inner boundary is clipped to
the video, ``[0, T - 1]``; the outer boundary to ``[-1, T]``: one virtual
snippet of activation 0 on each side of the video.  With the outer side at
least one snippet wide (``max(alpha * w, 1)``, the official code's floor),
this keeps the outer area >= 2 snippets for every segment, any ``T >= 1``,
where the paper's ``alpha * w`` alone would divide by zero for short anchors.
Clipping passes gradients straight through (as the official code does), so a
boundary pushed past the video's end is still pulled back by the loss -- but
not those that would push it further out (``_straight_through_clip``).

The OIC loss of every (position, anchor, class) is computed at once from
prefix sums of the CAS, and its gradient w.r.t. the four boundaries is given
by eqs. 2-5 through ``tf.custom_gradient``: the activations f(x) are read at
the rounded boundaries and the mean activations and areas come from the
continuous integral form (see ``_oic_parts``), so the gradient is the exact
derivative of that form, and equals eqs. 2-5 with rounded quantities at
integer boundaries.
The chain to ``t_x, t_w`` is TensorFlow's.
"""

from __future__ import annotations

import tensorflow as tf


#: ours: the widest scale factor exp(t_w) of an anchor (e^4 ~ 55x), a numerical bound
MAX_LOG_SCALE = 4.0


def round_half_up(x):
    return tf.floor(x + 0.5)


def _straight_through_clip(x, lo, hi):
    """``clip(x, lo, hi)`` whose gradient passes straight through, except where it
    would push a value already outside ``[lo, hi]`` further out.

    Passing every gradient through (the official code) lets an anchor wider
    than the video run away: once its boundaries are clipped at both ends,
    the loss may keep asking for a wider segment, which the clip never
    delivers, until ``exp(t_w)`` overflows and the weights become NaN (seen
    with ActivityNet's 512-snippet anchors on videos of < 200 snippets).
    Gradients that pull a boundary back into the video still pass.
    """
    @tf.custom_gradient
    def clip(v):
        def grad(upstream):
            # gradient descent moves v by -upstream: outward below lo when upstream > 0
            outward = ((v < lo) & (upstream > 0)) | ((v > hi) & (upstream < 0))
            return tf.where(outward, tf.zeros_like(upstream), upstream)
        return tf.clip_by_value(v, lo, hi), grad

    return clip(x)


def decode_boundaries(t_x: tf.Tensor, t_w: tf.Tensor, anchors, *, inflation: float = 0.25,
                      min_outer: float = 1.0):
    """Regress anchors into inner and outer boundaries (AutoLoc §4.3, Fig. 3).

    ``c_x = s_x + w_a t_x``, ``w = w_a exp(t_w)``, ``[x1, x2] = c_x -+ w / 2``,
    ``[X1, X2] = [x1, x2] -+ max(alpha w, min_outer)``; then clipped (module
    docstring).

    Args:
        t_x, t_w: ``[T, M]`` regression values at each position for each anchor.
        anchors: ``[M]`` anchor widths in snippets.

    Returns:
        ``(x1, x2, X1, X2)``, each ``[T, M]`` float32.
    """
    t_len = tf.shape(t_x)[0]
    w_a = tf.cast(tf.reshape(anchors, [1, -1]), t_x.dtype)
    s_x = tf.cast(tf.range(t_len), t_x.dtype)[:, None]
    c_x = s_x + w_a * t_x
    # exp(t_w) bounded to e^±MAX_LOG_SCALE (gradients still pull t_w back): on
    # ActivityNet-timeline videos some regressions reached t_w ~ 30 (exp ~ 1e13)
    # and then overflowed to inf, which turns the chain rule's 0 * inf into NaN
    w = w_a * tf.exp(_straight_through_clip(t_w, -MAX_LOG_SCALE, MAX_LOG_SCALE))
    x1, x2 = c_x - w / 2.0, c_x + w / 2.0
    side = tf.maximum(inflation * w, min_outer)
    outer1, outer2 = x1 - side, x2 + side
    last = tf.cast(t_len - 1, t_x.dtype)
    x1c = _straight_through_clip(x1, 0.0, last)
    x2c = _straight_through_clip(x2, 0.0, last)
    outer1 = _straight_through_clip(tf.minimum(outer1, x1c - min_outer), -1.0, last + 1.0)
    outer2 = _straight_through_clip(tf.maximum(outer2, x2c + min_outer), -1.0, last + 1.0)
    return x1c, x2c, outer1, outer2


def _gather_tk(table, idx, classes):
    """``table[idx[..., c], classes[c]]`` for idx ``[..., C]`` -> ``[..., C]``.

    One flat ``tf.gather`` (row * K + class): cheaper than ``gather_nd`` on
    stacked index pairs for the ~T * M * C lookups of every OIC evaluation.
    """
    k = tf.shape(table)[1]
    return tf.gather(tf.reshape(table, [-1]), idx * k + tf.cast(classes, tf.int32))


def _oic_parts(cas, x1, x2, outer1, outer2, classes):
    """Everything eq. 1 and eqs. 2-5 need, for ``[T, M]`` boundaries and ``[C]`` classes.

    Returns a dict of ``[T, M, C]`` tensors:
      ``a_i, a_o``: eq. 1's mean activations with rounded boundaries (the
      forward value, as AutoLoc §3.1 computes it);
      ``a_i_c, a_o_c, n_in_c, n_out_c``: the same from the continuous form
      ``S(a, b) = ∫_a^b f(round u) du + f(a)/2 + f(b)/2`` with areas
      ``b - a + 1`` -- equal to the rounded ones at integer boundaries, and
      the quantities whose derivatives eqs. 2-5 are at non-integer ones;
      ``f_x1, f_x2, f_X1, f_X2``: activations at the rounded boundaries.
    """
    t_len = tf.shape(cas)[0]
    padded = tf.pad(cas, [[1, 1], [0, 0]])                # position p at row p + 1
    prefix = tf.concat([tf.zeros_like(padded[:1]), tf.cumsum(padded, axis=0)], axis=0)
    shape = tf.concat([tf.shape(x1), tf.shape(classes)], axis=0)

    def rounded(b):
        clipped = tf.clip_by_value(round_half_up(b), -1.0, tf.cast(t_len, b.dtype))
        return tf.broadcast_to(tf.cast(clipped, tf.int32)[..., None], shape)

    bounds = {"x1": x1, "x2": x2, "X1": outer1, "X2": outer2}
    idx = {k: rounded(v) for k, v in bounds.items()}
    f = {k: _gather_tk(padded, i + 1, classes) for k, i in idx.items()}

    def range_sum(a, b):  # inclusive sum over rounded positions a..b
        return _gather_tk(prefix, idx[b] + 2, classes) - _gather_tk(prefix, idx[a] + 1, classes)

    inner_sum = range_sum("x1", "x2")
    n_in = tf.cast(idx["x2"] - idx["x1"] + 1, cas.dtype)
    n_out = tf.maximum(tf.cast(idx["X2"] - idx["X1"] + 1, cas.dtype) - n_in, 1.0)

    def integral_to(k):  # ∫ from -1.5 to the boundary of f(round u) du
        u = tf.broadcast_to(bounds[k][..., None], shape)
        p = tf.cast(idx[k], u.dtype)
        return _gather_tk(prefix, idx[k] + 1, classes) + (u - p + 0.5) * f[k]

    def continuous_sum(a, b):  # the sum a..b as a function of the continuous boundaries
        return integral_to(b) - integral_to(a) + 0.5 * (f[a] + f[b])

    inner_c = continuous_sum("x1", "x2")
    n_in_c = tf.broadcast_to((x2 - x1 + 1.0)[..., None], shape)
    n_out_c = tf.maximum(tf.broadcast_to(((outer2 - outer1) - (x2 - x1))[..., None], shape),
                         1.0)
    return {
        "a_i": inner_sum / n_in,
        "a_o": (range_sum("X1", "X2") - inner_sum) / n_out,
        "a_i_c": inner_c / n_in_c,
        "a_o_c": (continuous_sum("X1", "X2") - inner_c) / n_out_c,
        "n_in_c": n_in_c, "n_out_c": n_out_c,
        "f_x1": f["x1"], "f_x2": f["x2"], "f_X1": f["X1"], "f_X2": f["X2"],
    }


def oic_loss(cas: tf.Tensor, x1, x2, outer1, outer2, classes) -> tf.Tensor:
    """OIC loss (eq. 1) of every segment for every class in ``classes``.

    Args:
        cas: ``[T, K]`` class activations in [0, 1] (no gradient flows into it).
        x1, x2, outer1, outer2: ``[T, M]`` boundaries (see
            :func:`decode_boundaries`).
        classes: ``[C]`` int class indices.

    Returns:
        ``[T, M, C]`` ``A_o - A_i``; differentiable w.r.t. the four boundaries
        by eqs. 2-5.
    """
    return oic_loss_with_stats(cas, x1, x2, outer1, outer2, classes)[0]


def _parts(cas, x1, x2, outer1, outer2, classes):
    """``_oic_parts`` with no gradient into the CAS or through the lookups."""
    cas = tf.stop_gradient(tf.convert_to_tensor(cas))
    classes = tf.convert_to_tensor(classes, tf.int32)
    return _oic_parts(cas, *(tf.stop_gradient(b) for b in (x1, x2, outer1, outer2)), classes)


def _with_gradient(value, boundaries, grads_fn):
    """``value`` ``[T, M, C]`` whose gradient w.r.t. the four ``[T, M]`` boundaries
    is given by ``grads_fn() -> 4 x [T, M, C]`` (summed over the classes a
    boundary serves); evaluated only when a gradient is asked for."""

    @tf.custom_gradient
    def attach(x1, x2, outer1, outer2):
        def grad(upstream):
            return tuple(tf.reduce_sum(upstream * g, axis=-1) for g in grads_fn())

        return tf.identity(value), grad

    return attach(*boundaries)


def oic_loss_with_stats(cas, x1, x2, outer1, outer2, classes):
    """``(OIC [T, M, C], A_i, A_o)``: the loss with its custom gradient, and
    the inner and outer mean activations it was computed from."""
    parts = _parts(cas, x1, x2, outer1, outer2, classes)

    def grads():  # eqs. 2-5
        a_i, a_o, n_in, n_out = parts["a_i_c"], parts["a_o_c"], parts["n_in_c"], parts["n_out_c"]
        return ((parts["f_x1"] - a_o) / n_out - (a_i - parts["f_x1"]) / n_in,
                (a_o - parts["f_x2"]) / n_out - (parts["f_x2"] - a_i) / n_in,
                (a_o - parts["f_X1"]) / n_out,
                (parts["f_X2"] - a_o) / n_out)

    loss = _with_gradient(parts["a_o"] - parts["a_i"], (x1, x2, outer1, outer2), grads)
    return loss, parts["a_i"], parts["a_o"]


def inner_only_loss(cas: tf.Tensor, x1, x2, outer1, outer2, classes) -> tf.Tensor:
    """AutoLoc §5.4 Q2's ablation: ``L = -A_i`` (no outer contrast), ``[T, M, C]``.

    Its gradient w.r.t. x1 is ``-(A_i - f(x1)) / |I|`` and w.r.t. x2
    ``-(f(x2) - A_i) / |I|`` (the A_i terms of eqs. 2-3); the outer boundaries
    get none.
    """
    parts = _parts(cas, x1, x2, outer1, outer2, classes)

    def grads():
        a_i, n_in = parts["a_i_c"], parts["n_in_c"]
        zero = tf.zeros_like(a_i)
        return (-(a_i - parts["f_x1"]) / n_in, -(parts["f_x2"] - a_i) / n_in, zero, zero)

    return _with_gradient(-parts["a_i"], (x1, x2, outer1, outer2), grads)
