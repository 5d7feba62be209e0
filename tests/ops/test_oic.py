"""OIC loss (eq. 1), its gradient (eqs. 2-5), the boundary transform, clipping."""

import numpy as np
import pytest
import tensorflow as tf

from wtal_tf.ops import oic


def _r(b):
    return int(np.floor(b + 0.5))


def oic_reference(cas, k, x1, x2, X1, X2):
    """Eq. 1 by explicit loops over snippets (rounded boundaries)."""
    t = len(cas)

    def f(p):
        return cas[p, k] if 0 <= p < t else 0.0

    a, b, A, B = _r(x1), _r(x2), _r(X1), _r(X2)
    inner = sum(f(p) for p in range(a, b + 1))
    outer_all = sum(f(p) for p in range(A, B + 1))
    n_in = b - a + 1
    n_out = (B - A + 1) - n_in
    return (outer_all - inner) / n_out - inner / n_in


def grad_reference(cas, k, x1, x2, X1, X2):
    """Eqs. 2-5: f read at the rounded boundaries; A_i, A_o and the areas of the
    continuous form (``continuous_sum`` below), which are eq. 1's own at integers."""
    t = len(cas)

    def f(p):
        return cas[p, k] if 0 <= p < t else 0.0

    a, b, A, B = _r(x1), _r(x2), _r(X1), _r(X2)
    n_in = x2 - x1 + 1
    n_out = (X2 - X1 + 1) - n_in
    inner = continuous_sum(cas, k, x1, x2)
    a_i = inner / n_in
    a_o = (continuous_sum(cas, k, X1, X2) - inner) / n_out
    return ((f(a) - a_o) / n_out - (a_i - f(a)) / n_in,
            (a_o - f(b)) / n_out - (f(b) - a_i) / n_in,
            (a_o - f(A)) / n_out,
            (f(B) - a_o) / n_out)


def random_boundaries(rng, t, m):
    """Valid clipped boundaries: -1 <= X1 <= x1 - 1, x1 <= x2, x2 + 1 <= X2 <= T."""
    x1 = rng.uniform(0, t - 1, (t, m))
    x2 = np.minimum(x1 + rng.uniform(0, t / 2, (t, m)), t - 1)
    X1 = np.maximum(x1 - rng.uniform(1, 5, (t, m)), -1)
    X2 = np.minimum(x2 + rng.uniform(1, 5, (t, m)), t)
    return [v.astype(np.float32) for v in (x1, x2, X1, X2)]


@pytest.mark.parametrize("seed", range(3))
def test_oic_forward_against_loop_reference(seed):
    rng = np.random.default_rng(seed)
    t, m, k = 17, 4, 5
    cas = rng.random((t, k)).astype(np.float32)
    b = random_boundaries(rng, t, m)
    classes = [0, 3]
    got = oic.oic_loss(cas, *b, classes).numpy()
    for i in range(t):
        for j in range(m):
            for c_i, c in enumerate(classes):
                ref = oic_reference(cas, c, *(v[i, j] for v in b))
                assert got[i, j, c_i] == pytest.approx(ref, abs=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_custom_gradient_matches_equations_2_to_5(seed):
    rng = np.random.default_rng(10 + seed)
    t, m, k = 15, 3, 4
    cas = rng.random((t, k)).astype(np.float32)
    b = [tf.constant(v) for v in random_boundaries(rng, t, m)]
    with tf.GradientTape() as tape:
        tape.watch(b)
        loss = tf.reduce_sum(oic.oic_loss(cas, *b, [2]))
    grads = [g.numpy() for g in tape.gradient(loss, b)]
    for i in range(t):
        for j in range(m):
            ref = grad_reference(cas, 2, *(v.numpy()[i, j] for v in b))
            for g, r in zip(grads, ref):
                assert g[i, j] == pytest.approx(r, abs=1e-5)


def continuous_sum(cas, k, a, b):
    """S(a, b) = ∫_a^b f(round u) du + f(a)/2 + f(b)/2, by walking the snippets;
    equals the inclusive sum over a..b at integer a, b."""
    t = len(cas)

    def f(p):
        return cas[p, k] if 0 <= p < t else 0.0

    total, u = 0.0, a
    while u < b:
        nxt = min(np.floor(u + 0.5) + 0.5, b)
        total += f(_r(u + 1e-12)) * (nxt - u)
        u = nxt
    return total + 0.5 * f(_r(a)) + 0.5 * f(_r(b))


def continuous_oic(cas, k, x1, x2, X1, X2):
    """A continuous form of eq. 1 that equals it at integer boundaries (areas b - a + 1)."""
    n_in = x2 - x1 + 1
    n_out = (X2 - X1 + 1) - n_in
    inner = continuous_sum(cas, k, x1, x2)
    return (continuous_sum(cas, k, X1, X2) - inner) / n_out - inner / n_in


def test_gradient_against_finite_differences_of_continuous_form():
    rng = np.random.default_rng(3)
    t, k = 20, 3
    cas = rng.random((t, k))
    # non-integer boundaries, fractional parts away from .5 and .0
    cases = [(4.2, 9.7, 1.3, 13.8), (0.3, 5.2, -0.8, 8.1), (10.1, 18.8, 6.9, 19.7),
             (7.8, 7.9, 5.2, 10.3)]
    for x1, x2, X1, X2 in cases:
        b = [tf.constant([[v]], tf.float32) for v in (x1, x2, X1, X2)]
        with tf.GradientTape() as tape:
            tape.watch(b)
            loss = tf.reduce_sum(oic.oic_loss(cas.astype(np.float32), *b, [1]))
        grads = [float(g[0, 0]) for g in tape.gradient(loss, b)]
        base = [x1, x2, X1, X2]
        eps = 1e-4
        for i in range(4):
            hi, lo = list(base), list(base)
            hi[i] += eps
            lo[i] -= eps
            fd = (continuous_oic(cas, 1, *hi) - continuous_oic(cas, 1, *lo)) / (2 * eps)
            assert grads[i] == pytest.approx(fd, abs=2e-4), (base, i)
        # and the continuous form equals eq. 1 at integer boundaries
        ints = [float(_r(v)) for v in base]
        assert continuous_oic(cas, 1, *ints) == pytest.approx(
            oic_reference(cas, 1, *ints), abs=1e-12)


def test_gradient_signs_follow_section_3_2():
    # action (activation 1) on snippets 5..10, background 0 elsewhere
    cas = np.zeros((20, 1), np.float32)
    cas[5:11] = 1.0
    b = [tf.constant([[v]], tf.float32) for v in (3.0, 8.0, 1.0, 11.0)]
    with tf.GradientTape() as tape:
        tape.watch(b)
        loss = tf.reduce_sum(oic.oic_loss(cas, *b, [0]))
    g_x1, g_x2, g_o1, g_o2 = [float(g[0, 0]) for g in tape.gradient(loss, b)]
    # x1 = 3 sits in background: dL/dx1 < 0, so gradient descent moves it right (inward)
    assert g_x1 < 0
    # x2 = 8 sits inside the high-activation run: dL/dx2 < 0, it moves right (outward)
    assert g_x2 < 0
    # X2 = 11 sits on background with A_o > 0: dL/dX2 = (0 - A_o)/|O| < 0
    assert g_o2 < 0 and g_o1 > 0


def test_decode_boundaries_by_hand_and_clipping():
    # T = 10, anchors 2 and 8 at every position, zero regression
    t_x = tf.zeros((10, 2))
    t_w = tf.zeros((10, 2))
    x1, x2, X1, X2 = (v.numpy() for v in oic.decode_boundaries(t_x, t_w, [2.0, 8.0]))
    # position 5, anchor 2: [4, 6]; outer side max(0.25 * 2, 1) = 1 -> [3, 7]
    assert (x1[5, 0], x2[5, 0], X1[5, 0], X2[5, 0]) == (4.0, 6.0, 3.0, 7.0)
    # position 5, anchor 8: [1, 9]; outer side 2 -> [-1, 11] clipped to [-1, 10]
    assert (x1[5, 1], x2[5, 1], X1[5, 1], X2[5, 1]) == (1.0, 9.0, -1.0, 10.0)
    # position 0, anchor 8: [-4, 4] -> inner clipped to [0, 4], outer to [-1, 6]
    assert (x1[0, 1], x2[0, 1], X1[0, 1], X2[0, 1]) == (0.0, 4.0, -1.0, 6.0)
    # regression: c = s + w_a t_x, w = w_a exp(t_w)
    x1, x2, _, _ = oic.decode_boundaries(tf.fill((10, 1), 0.25), tf.fill((10, 1), float(np.log(2.0))),
                                         [2.0])
    assert (float(x1[3, 0]), float(x2[3, 0])) == pytest.approx((1.5, 5.5))


def test_clipping_passes_gradients_straight_through():
    t_x = tf.Variable([[5.0]])  # pushes the segment far past the end of a 1-snippet video
    with tf.GradientTape() as tape:
        x1, x2, X1, X2 = oic.decode_boundaries(t_x, tf.zeros((1, 1)), [1.0])
        y = tf.reduce_sum(x1 + x2)
    assert float(x1[0, 0]) == 0.0 and float(x2[0, 0]) == 0.0
    assert float(tape.gradient(y, t_x)[0, 0]) == pytest.approx(2.0)


@pytest.mark.parametrize("t_len", [1, 3, 20])
def test_short_videos_and_largest_anchor(t_len):
    """T = 1 and T shorter than the largest anchor: finite loss and gradients."""
    rng = np.random.default_rng(t_len)
    cas = rng.random((t_len, 3)).astype(np.float32)
    t_x = tf.Variable(rng.normal(0, 0.5, (t_len, 6)).astype(np.float32))
    t_w = tf.Variable(rng.normal(0, 0.5, (t_len, 6)).astype(np.float32))
    with tf.GradientTape() as tape:
        b = oic.decode_boundaries(t_x, t_w, [1, 2, 4, 8, 16, 32])
        values = oic.oic_loss(cas, *b, [0, 2])
        loss = tf.reduce_sum(values)
    assert np.isfinite(values.numpy()).all() and values.shape == (t_len, 6, 2)
    assert np.all(values.numpy() >= -1.0) and np.all(values.numpy() <= 1.0)
    for g in tape.gradient(loss, [t_x, t_w]):
        assert np.isfinite(g.numpy()).all()
    x1, x2, X1, X2 = (v.numpy() for v in b)
    assert x1.min() >= 0 and x2.max() <= t_len - 1 and X1.min() >= -1 and X2.max() <= t_len
    # outer area is never empty: >= 1 snippet on each side after rounding
    r = lambda v: np.floor(v + 0.5)  # noqa: E731
    assert np.all(r(X1) <= r(x1) - 1) and np.all(r(X2) >= r(x2) + 1)


def test_inner_only_loss_and_gradient():
    cas = np.zeros((10, 1), np.float32)
    cas[2:6] = 1.0
    b = [tf.constant([[v]], tf.float32) for v in (1.0, 4.0, 0.0, 6.0)]
    with tf.GradientTape() as tape:
        tape.watch(b)
        loss = tf.reduce_sum(oic.inner_only_loss(cas, *b, [0]))
    assert float(loss) == pytest.approx(-3 / 4)
    g = [float(x[0, 0]) for x in tape.gradient(loss, b)]
    # -(A_i - f(x1)) / |I| = -(0.75 - 0) / 4 ; -(f(x2) - A_i) / |I| = -(1 - .75) / 4
    # (integer boundaries: the continuous A_i = 3/4 too)
    assert g[0] == pytest.approx(-0.75 / 4) and g[1] == pytest.approx(-0.25 / 4)
    assert g[2] == 0.0 and g[3] == 0.0


def test_clipping_never_pushes_a_clipped_boundary_further_out():
    # an anchor 4x the video: both boundaries clipped; a loss that wants it wider
    # (x1 lower, x2 higher) gets no gradient, one that wants it back inside does
    t_w = tf.Variable([[np.float32(np.log(4.0))]])
    for sign, moves in ((1.0, False), (-1.0, True)):
        with tf.GradientTape() as tape:
            x1, x2, _, _ = oic.decode_boundaries(tf.zeros((1, 1)), t_w, [1.0])
            y = sign * tf.reduce_sum(x1 - x2)      # sign 1: minimised by widening
        assert float(x1[0, 0]) == 0.0 and float(x2[0, 0]) == 0.0
        assert (float(tape.gradient(y, t_w)[0, 0]) != 0.0) == moves


def test_anchors_far_wider_than_the_video_stay_finite_under_training():
    rng = np.random.default_rng(0)
    cas = rng.random((5, 2)).astype(np.float32)
    t_w = tf.Variable(np.zeros((5, 2), np.float32))
    t_x = tf.Variable(np.zeros((5, 2), np.float32))
    opt = tf.keras.optimizers.SGD(10.0)
    for _ in range(50):
        with tf.GradientTape() as tape:
            b = oic.decode_boundaries(t_x, t_w, [256.0, 512.0])
            loss = tf.reduce_sum(oic.oic_loss(cas, *b, [0, 1]))
        grads = tape.gradient(loss, [t_x, t_w])
        opt.apply_gradients(zip(grads, [t_x, t_w]))
    assert np.isfinite(t_w.numpy()).all() and np.isfinite(loss.numpy())
    assert t_w.numpy().max() < 10.0


def test_scale_factor_is_bounded_and_never_overflows():
    t_w = tf.Variable([[100.0, -100.0]])
    with tf.GradientTape() as tape:
        x1, x2, _, _ = oic.decode_boundaries(tf.zeros((1, 2)), t_w, [1.0, 1.0])
        y = tf.reduce_sum(x2 - x1)                 # minimised by narrowing
    g = tape.gradient(y, t_w).numpy()
    assert np.isfinite(g).all()
    assert g[0, 0] > 0 and g[0, 1] == 0.0          # pulled back from +100, not pushed below -4
