"""CAS model training: real-snippet throughput, peak RSS, FLOP efficiency vs matmul peak.

200 thumos-profile synthetic videos at D = 2048, RefineLoc's THUMOS'14 I3D
layer sizes (NOTES: L = 2, 1-way sigmoid attention head): 2048 -> 1024 -> K
and 2048 -> 1024 -> 1.  Features stream from ``.npy`` files through the
tf.data pipeline (nothing held in memory).

Exact FLOPs per real snippet (a multiply-add = 2 FLOPs):
  forward: every Dense layer, 2 * in * out;
  weight gradients: the same again;
  input gradients: only for layers whose input needs one -- the second
  layer of each head (the first layers' input is the features: none).
Efficiency = FLOPs per snippet * real snippets/s / (FLOP/s of a large
tf.matmul measured in the same process).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, peak_rss_mb


def dense_flops(layers: list[tuple[int, int]], needs_input_grad: list[bool]) -> int:
    fwd = sum(2 * i * o for i, o in layers)
    wgrad = fwd
    igrad = sum(2 * i * o for (i, o), need in zip(layers, needs_input_grad) if need)
    return fwd + wgrad + igrad


def matmul_flops_per_s(n: int = 4096, repeats: int = 5) -> float:
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    f(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def cas_batches(source, ids, batch: int, start: int, stop: int):
    """Epochs ``start..stop-1`` of ``ids`` through the CAS trainer's own input path:
    a ``(seed, epoch)`` order, length-sorted windows of 32 batches, padded batches."""
    from wtal_tf.data import pipeline
    from wtal_tf.training.cas_task import model_inputs

    return pipeline.epoch_batches(
        source.root, ids, seed=0, start_epoch=start, epochs=stop,
        batch_fn=lambda d: pipeline.padded_batches(d, batch, prefetch=False).map(model_inputs),
        length_window=32 * batch, batch_size=batch,
        lengths={v: source.num_snippets(v) for v in ids})


def run(quick: bool = False) -> list[Row]:
    import keras

    from wtal_tf.configs import get_config
    from wtal_tf.data import synthetic
    from wtal_tf.data.source import RootSource
    from wtal_tf.models.cas_model import build_cas_model
    from wtal_tf.ops.shapes import bucket_length

    n_videos = 60 if quick else 200
    dim = 2048
    with tempfile.TemporaryDirectory() as tmp:
        spec = synthetic.SyntheticSpec(num_train=n_videos, num_test=1, feature_dim=dim)
        synthetic.build(Path(tmp) / "d", spec, progress=False)
        os.sync()  # the ~600 MB just written are not flushed while the epochs are timed
        source = RootSource(Path(tmp) / "d")
        cfg = get_config("thumos14_cas")
        cfg = cfg.replace(model=dataclasses.replace(cfg.model, attention="sigmoid1"))
        k = len(source.classes)
        model = build_cas_model(cfg, k, dim)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        ids = source.video_ids("train") + source.video_ids("holdout")
        batch = cfg.train.batch_size
        epochs = 2 if quick else 4

        def batches(start, stop):
            return cas_batches(source, ids, batch, start, stop)

        real = sum(source.num_snippets(v) for v in ids)
        steps = -(-len(ids) // batch)
        model.fit(batches(0, 1), epochs=1, steps_per_epoch=steps, verbose=0)  # warm up
        # snippets the model computes: each batch's T_max rounded up to its length bucket
        padded = sum(int(x["mask"].shape[0]) * int(bucket_length(
            int(x["mask"].shape[1]), model.length_buckets_per_octave))
            for x, _ in batches(0, 1))
        # Epochs of training, each followed by 3 passes over the input alone (from a
        # callback, so the training pipeline keeps streaming across epochs); the
        # best of each, as the matmul peak is the best of 5: a transient slow-down
        # of this shared machine then biases neither side of a ratio.

        class Interleave(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.train_s, self.read_s = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.train_s.append(time.perf_counter() - self.start)
                for _ in range(3):  # input passes are cheap: more samples of them
                    t = time.perf_counter()
                    for _ in batches(epoch, epoch + 1):
                        pass
                    self.read_s.append(time.perf_counter() - t)

        timer = Interleave()
        model.fit(batches(1, 1 + epochs), epochs=epochs, steps_per_epoch=steps, verbose=0,
                  callbacks=[timer])
        elapsed, read = min(timer.train_s), min(timer.read_s)
        mean_epoch = sum(timer.train_s) / len(timer.train_s)
    flops = dense_flops([(dim, dim // 2), (dim // 2, k), (dim, dim // 2), (dim // 2, 1)],
                        [False, True, False, True])
    snippets_per_s = real / elapsed
    peak = matmul_flops_per_s()
    eff = flops * snippets_per_s / peak
    return [
        Row("cas", f"epoch time, {len(ids)} videos, D=2048 (best of {epochs})", elapsed, "s"),
        Row("cas", f"epoch time, mean of {epochs}", mean_epoch, "s"),
        Row("cas", "padding (share of computed snippets that are padding)", 1 - real / padded,
            ""),
        Row("pipeline", "input pipeline alone: epoch read time", read, "s"),
        Row("pipeline", "input pipeline throughput / training consumption", elapsed / read, "",
            ">= 10"),
        Row("cas", "training throughput (real snippets)", snippets_per_s, "snippets/s"),
        Row("cas", "FLOPs per real snippet (fwd + wgrad + needed igrad)", float(flops), ""),
        Row("cas", "tf.matmul 4096^2 peak", peak / 1e9, "GFLOP/s"),
        Row("cas", "FLOP efficiency (training FLOP/s / matmul peak)", eff, "",
            ">= 0.76 (official PyTorch)"),
        Row("cas", "peak RSS", peak_rss_mb(), "MiB"),
    ]
