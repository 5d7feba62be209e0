"""AutoLoc §5.4's comparison points: CAS thresholding, OIC Selection, Direct Optimization."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from wtal_tf.configs import AutoLocConfig
from wtal_tf.data.detections import Detections
from wtal_tf.data.source import DataSource
from wtal_tf.inference.detections import video_detections
from wtal_tf.models.autoloc import AutoLocModel, make_optimizer
from wtal_tf.ops import nms, oic
from wtal_tf.ops import segments as seg_ops
from wtal_tf.ops.gradients import zeros_for_missing


def _to_detections(vid, source, t_len, first, last, scores, classes):
    # spans in float64 before scaling (as these baselines always have)
    return video_detections(source, vid, t_len, np.asarray(first, float),
                            np.asarray(last, float), scores, classes)


def _video_cas(model: AutoLocModel, feature_dim: int):
    @tf.function(input_signature=[tf.TensorSpec([None, feature_dim], tf.float32)])
    def fn(features):
        return model.video_cas(features[None])[0]
    return fn


def _videos_with_cas(model: AutoLocModel, source: DataSource, split: str):
    """Yields ``(video_id, gated CAS [T, K], T)`` for every video of a split."""
    cas_fn = _video_cas(model, source.feature_dim)
    for e in source.dataset(split):
        cas = cas_fn(e["features"])
        yield e["video_id"].numpy().decode(), cas, int(cas.shape[0])


def cas_thresholding(model: AutoLocModel, source: DataSource, split: str,
                     threshold: float) -> Detections:
    """UntrimmedNet-style localization: threshold each class's (gated) CAS,
    contiguous runs are segments, score = mean activation (AutoLoc §1, §5.3)."""
    parts = []
    for vid, cas, t_len in _videos_with_cas(model, source, split):
        for k in range(cas.shape[1]):
            starts, ends = seg_ops.mask_to_runs(cas[:, k] >= threshold, max_gap=0)
            if not len(starts):
                continue
            score = seg_ops.segment_means(cas[:, k], starts, ends).numpy()
            parts.append(_to_detections(vid, source, t_len, starts.numpy(), ends.numpy(),
                                        score, np.full(len(score), k)))
    return Detections.concatenate(parts)


def oic_selection(model: AutoLocModel, source: DataSource, split: str,
                  cfg: AutoLocConfig, max_length: int | None = None) -> Detections:
    """AutoLoc §5.4 Q1: enumerate every snippet-level segment, keep those with
    OIC <= threshold, NMS per class, score = 1 - OIC.  No learned regressor."""
    parts = []
    for vid, cas, t_len in _videos_with_cas(model, source, split):
        longest = t_len if max_length is None else min(t_len, max_length)
        a, b = np.triu_indices(t_len)
        keep = (b - a) < longest
        a, b = a[keep].astype(np.float32), b[keep].astype(np.float32)
        w = b - a
        side = np.maximum(cfg.inflation * w, cfg.min_outer)
        outer1 = np.maximum(a - side, -1.0)
        outer2 = np.minimum(b + side, t_len)
        classes = np.arange(cas.shape[1])
        # positions whose CAS is below the OIC layer's threshold carry no class
        active = tf.reduce_max(cas, axis=0).numpy() >= cfg.cas_threshold
        classes = classes[active]
        if not len(classes):
            continue
        values = oic.oic_loss(cas, a[:, None], b[:, None], outer1[:, None], outer2[:, None],
                              classes).numpy()[:, 0, :]                  # [N, C]
        for ci, k in enumerate(classes):
            ok = values[:, ci] <= cfg.oic_threshold
            if not ok.any():
                continue
            s, t, score = a[ok], b[ok], 1.0 - values[ok, ci]
            idx, num = nms.batched_nms_1d(tf.constant(s[None]), tf.constant(t[None] + 1.0),
                                          tf.constant(score[None]), max_output=len(score),
                                          iou_threshold=cfg.nms_iou)
            sel = idx.numpy()[0, : int(num[0])]
            parts.append(_to_detections(vid, source, t_len, s[sel], t[sel], score[sel],
                                        np.full(len(sel), k)))
    return Detections.concatenate(parts)


def direct_optimization(model: AutoLocModel, source: DataSource, split: str,
                        cfg: AutoLocConfig, seed: int = 0) -> Detections:
    """AutoLoc §5.4 Q3: train the localization network from scratch on each test
    video alone (``cfg.direct_steps`` SGD steps of the OIC loss over the classes
    the test pipeline considers), then detect on it."""
    keras.utils.set_random_seed(seed)
    # 25 steps leave Keras' moving averages at ~78% of their initial values:
    # each video is detected with its own statistics, the ones it trained with
    model.localizer.test_statistics = "video"
    init = [w.numpy().copy() for w in model.localizer.weights]
    optimizer = make_optimizer(cfg)
    variables = model.localizer.trainable_variables
    optimizer.build(variables)
    dim = source.feature_dim

    @tf.function(input_signature=[tf.TensorSpec([None, dim], tf.float32)])
    def step(features):
        x = features[None]
        cas, _ = model.video_cas(x)
        classes = tf.range(tf.shape(cas)[1])
        with tf.GradientTape() as tape:
            t_x, t_w = model.localizer(x, training=True)
            sel = model.oic_layer(cas, t_x[0], t_w[0], classes)
            kept = tf.reduce_sum(tf.cast(sel.valid, tf.float32))
            loss = tf.reduce_sum(sel.losses) / tf.maximum(kept, 1.0)
        grads = tape.gradient(loss, variables)
        optimizer.apply(zeros_for_missing(grads, variables), variables)
        return loss

    @tf.function(input_signature=[tf.TensorSpec([None, dim], tf.float32)])
    def detect(features):
        return model.detect(features[None])

    parts = []
    for e in source.dataset(split):
        for w, v in zip(model.localizer.weights, init):
            w.assign(v)
        optimizer.iterations.assign(0)
        for _ in range(cfg.direct_steps):
            step(e["features"])
        segs, scores, classes, num = detect(e["features"])
        n = int(num)
        if n:
            vid = e["video_id"].numpy().decode()
            parts.append(_to_detections(vid, source, int(e["num_snippets"]),
                                        segs.numpy()[:n, 0], segs.numpy()[:n, 1],
                                        scores.numpy()[:n], classes.numpy()[:n]))
    for w, v in zip(model.localizer.weights, init):
        w.assign(v)
    return Detections.concatenate(parts)
