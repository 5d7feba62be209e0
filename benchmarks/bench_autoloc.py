"""AutoLoc: OIC vectorised vs a per-segment loop, OIC share of a step, latency vs T.

* OIC forward + backward at T = 2000, M = 6, K = 20: the vectorised prefix-sum
  op against a straightforward loop over segments (like the Caffe layer).
* The share of one AutoLoc training step (D = 2048, T = 2000) spent in the
  OIC layer (boundary decoding, OIC and its gradient, selection, NMS).
* Training FLOP/s of that step against the ``tf.matmul`` peak (FLOPs counted
  from the layer shapes: ``autoloc_step_flops``).
* Inference latency of the whole detector for T = 128 ... 8192 and the growth
  exponent fitted on T >= 1024.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.bench_cas import matmul_flops_per_s
from benchmarks.common import Row, best_of


def oic_loop(cas, x1, x2, o1, o2):
    """Per-segment loop: forward (eq. 1) and backward (eqs. 2-5), like the Caffe layer."""
    t_len, m = x1.shape
    k_n = cas.shape[1]
    loss = np.zeros((t_len, m, k_n))
    grads = np.zeros((4, t_len, m, k_n))
    padded = np.pad(cas, ((1, 1), (0, 0)))

    def r(v):
        return int(np.clip(np.floor(v + 0.5), -1, t_len))

    for t in range(t_len):
        for j in range(m):
            a, b, A, B = r(x1[t, j]), r(x2[t, j]), r(o1[t, j]), r(o2[t, j])
            for k in range(k_n):
                inner = padded[a + 1:b + 2, k].sum()
                outer = padded[A + 1:B + 2, k].sum() - inner
                n_in = b - a + 1
                n_out = max((B - A + 1) - n_in, 1)
                a_i, a_o = inner / n_in, outer / n_out
                loss[t, j, k] = a_o - a_i
                fa, fb, fA, fB = padded[a + 1, k], padded[b + 1, k], padded[A + 1, k], \
                    padded[B + 1, k]
                grads[0, t, j, k] = (fa - a_o) / n_out - (a_i - fa) / n_in
                grads[1, t, j, k] = (a_o - fb) / n_out - (fb - a_i) / n_in
                grads[2, t, j, k] = (a_o - fA) / n_out
                grads[3, t, j, k] = (fB - a_o) / n_out
    return loss, grads


def autoloc_step_flops(cas_model, localizer) -> int:
    """Exact FLOPs per snippet of one AutoLoc training step (a multiply-add = 2):
    the frozen CAS model forward (its Dense kernels ``[in, out]``), and the
    localization network's convolutions (kernels ``[k, in, out]``) forward, weight
    gradient, and input gradient for every conv but the first (its input is the
    features, which need none).  The OIC layer's own work is left out (its
    share is the row above)."""
    cas = sum(2 * int(np.prod(w.shape)) for w in cas_model.weights if len(w.shape) == 2)
    convs = [2 * int(np.prod(w.shape)) for w in localizer.weights if len(w.shape) == 3]
    return cas + 2 * sum(convs) + sum(convs[1:])


def run(quick: bool = False) -> list[Row]:
    import keras
    import tensorflow as tf

    from wtal_tf.configs import get_config
    from wtal_tf.models.autoloc import build_autoloc, make_optimizer
    from wtal_tf.models.cas_model import CasModel
    from wtal_tf.ops import oic
    from wtal_tf.ops.gradients import zeros_for_missing

    rng = np.random.default_rng(0)
    t_len, m, k = 2000, 6, 20
    anchors = tf.constant([1, 2, 4, 8, 16, 32], tf.float32)
    cas = rng.random((t_len, k)).astype(np.float32)
    t_x = tf.constant(rng.normal(0, 0.3, (t_len, m)).astype(np.float32))
    t_w = tf.constant(rng.normal(0, 0.3, (t_len, m)).astype(np.float32))
    classes = tf.range(k)

    @tf.function
    def fwd_bwd(t_x, t_w):
        with tf.GradientTape() as tape:
            tape.watch([t_x, t_w])
            b = oic.decode_boundaries(t_x, t_w, anchors)
            loss = tf.reduce_sum(oic.oic_loss(cas, *b, classes))
        return loss, tape.gradient(loss, [t_x, t_w])

    fwd_bwd(t_x, t_w)
    vec = best_of(lambda: [g.numpy() for g in fwd_bwd(t_x, t_w)[1]], repeats=5)
    bounds = [v.numpy() for v in oic.decode_boundaries(t_x, t_w, anchors)]
    rows_done = 100 if quick else 400
    start = time.perf_counter()
    oic_loop(cas, *(v[:rows_done] for v in bounds))
    loop = (time.perf_counter() - start) * t_len / rows_done
    rows = [
        Row("autoloc", "OIC fwd+bwd vectorised, T=2000 M=6 K=20", vec * 1e3, "ms"),
        Row("autoloc", f"OIC fwd+bwd per-segment loop ({rows_done}/{t_len} positions, "
            "scaled)", loop, "s"),
        Row("autoloc", "OIC speed-up vectorised / loop", loop / vec, "x", ">= 100"),
    ]

    # share of a training step spent in the OIC layer, D = 2048, T = 2000
    dim = 2048
    cfg = get_config("thumos14_autoloc")
    cas_model = CasModel(k)
    cas_model({"features": tf.zeros((1, 2, dim))})
    model = build_autoloc(cfg, cas_model, dim)
    model.compile(optimizer=make_optimizer(cfg.autoloc))
    feats = tf.constant(rng.standard_normal((1, t_len, dim)).astype(np.float32))
    labels = tf.one_hot([[3]], k)[0]
    variables = model.localizer.trainable_variables
    opt = keras.optimizers.SGD(1e-5)
    opt.build(variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss, _, _, _ = model.batch_loss(x, y, training=True)
        grads = tape.gradient(loss, variables)
        opt.apply(zeros_for_missing(grads, variables), variables)
        return loss

    gated, _ = model.video_cas(feats)
    t_x2, t_w2 = model.localizer(feats)
    gt_classes = tf.constant([3])

    @tf.function
    def oic_only(t_x, t_w):
        with tf.GradientTape() as tape:
            tape.watch([t_x, t_w])
            sel = model.oic_layer(gated, t_x, t_w, gt_classes)
            loss = tf.reduce_sum(sel.losses)
        return tape.gradient(loss, [t_x, t_w])

    step(feats, labels)
    oic_only(t_x2[0], t_w2[0])
    t_step = best_of(lambda: step(feats, labels).numpy(), repeats=5)
    t_oic = best_of(lambda: [g.numpy() for g in oic_only(t_x2[0], t_w2[0])], repeats=5)
    rows += [Row("autoloc", "training step, D=2048, T=2000", t_step * 1e3, "ms"),
             Row("autoloc", "of which OIC layer (decode, OIC+grad, select, NMS)", t_oic * 1e3,
                 "ms"),
             Row("autoloc", "OIC share of a training step", t_oic / t_step, "", "< 0.20")]
    flops = autoloc_step_flops(cas_model, model.localizer)
    peak = matmul_flops_per_s()
    rows += [Row("autoloc", "FLOPs per snippet (frozen CAS fwd; localizer fwd + wgrad + igrad)",
                 float(flops), ""),
             Row("autoloc", "tf.matmul 4096^2 peak", peak / 1e9, "GFLOP/s"),
             Row("autoloc", "FLOP efficiency (training FLOP/s / matmul peak)",
                 flops * t_len / t_step / peak, "")]

    # inference latency vs T
    @tf.function(input_signature=[tf.TensorSpec([None, dim], tf.float32)])
    def detect(f):
        return model.detect(f[None])

    lengths = [128, 256, 512, 1024, 2048, 4096, 8192]
    if quick:
        lengths = [128, 512, 1024, 2048, 4096]
    lat = {}
    for t in lengths:
        f = tf.constant(rng.standard_normal((t, dim)).astype(np.float32))
        detect(f)
        lat[t] = best_of(lambda: detect(f)[3].numpy(), repeats=3)
        rows.append(Row("autoloc", f"inference latency T={t}", lat[t] * 1e3, "ms"))
    big = [t for t in lengths if t >= 1024]
    slope = np.polyfit(np.log(big), np.log([lat[t] for t in big]), 1)[0]
    rows.append(Row("autoloc", "latency growth exponent (fit on T >= 1024)", float(slope), "",
                    "<= 1.1"))
    return rows
