"""AutoLoc: a localization branch trained by the OIC loss on a frozen CAS (AutoLoc §4).

One video per step (AutoLoc §5.2).  The CAS comes from our CAS model
(RefineLoc's base), frozen inside this model so that one graph holds the
whole detector: CAS model -> gated CAS; localization network -> anchors ->
OIC layer (selection, NMS) -> detections.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from wtal_tf.configs import AutoLocConfig, ExperimentConfig
from wtal_tf.layers.localization import (STATISTICS_AGGREGATES, LocalizationNetwork,
                                         recompute_statistics)
from wtal_tf.layers.oic import OICLayer
from wtal_tf.models.cas_model import CasModel
from wtal_tf.ops import cas as cas_ops
from wtal_tf.ops import oic_select


class AutoLocModel(keras.Model):
    """The whole AutoLoc detector around a frozen :class:`CasModel`.

    Args:
        cas_model: a trained CAS model (frozen here).
        cfg: the AutoLoc settings (anchors, thresholds, loss).
        cas_gate, cas_gate_threshold: how the CAS is gated by p_fg.

    The training loss is ``cfg.loss_reduction`` over the kept segments:
    ``"mean"`` (default: the sum divided by the number kept, the official
    code's gradient scale) or ``"sum"`` (AutoLoc §4.3 as written).  A video
    with no kept segment contributes 0 and no gradient.

    Call arguments:
        inputs: dict with ``features`` ``(1, time, D)``.

    Returns:
        ``(t_x, t_w)`` each ``(1, time, anchors)``.
    """

    def __init__(self, cas_model: CasModel, cfg: AutoLocConfig, cas_gate: str = "hard",
                 cas_gate_threshold: float = 0.5, synchronized_bn: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.cas_model = cas_model
        self.cas_model.trainable = False
        self.cfg = cfg
        self.cas_gate = cas_gate
        self.cas_gate_threshold = cas_gate_threshold
        if cfg.bn_statistics not in BN_STATISTICS:
            raise ValueError(f"bn_statistics must be one of {BN_STATISTICS}, got "
                             f"{cfg.bn_statistics!r}")
        self.localizer = LocalizationNetwork(
            len(cfg.anchors), cfg.filters, cfg.num_conv_layers, cfg.activation,
            cfg.head_kernel, synchronized_bn=synchronized_bn,
            test_statistics="video" if cfg.bn_statistics == "video" else "moving",
            name="localizer")
        self.oic_layer = OICLayer(cfg.anchors, cfg.inflation, cfg.min_outer, cfg.cas_threshold,
                                  cfg.oic_threshold, cfg.nms_iou, cfg.loss, name="oic")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.kept_tracker = keras.metrics.Mean(name="kept_segments")
        self.inner_tracker = keras.metrics.Mean(name="inner_activation")
        self.outer_tracker = keras.metrics.Mean(name="outer_activation")

    @property
    def metrics(self):
        return [self.loss_tracker, self.kept_tracker, self.inner_tracker, self.outer_tracker]

    def build(self, input_shape=None):
        # the layers build on their first call (features of any D)
        self.built = True

    def call(self, inputs, training=False):
        return self.localizer(inputs["features"], training=training)

    def video_cas(self, features):
        """``(gated CAS [T, K], video scores ŷ [K])`` for one video ``[1, T, D]``."""
        out = self.cas_model({"features": features}, training=False)
        cas = cas_ops.gated_cas(out["cas_logits"], out["p_fg"], self.cas_gate,
                                self.cas_gate_threshold)
        return tf.stop_gradient(cas[0]), tf.stop_gradient(out["video_scores"][0])

    def _video_loss(self, cas, t_x, t_w, labels):
        classes = tf.cast(tf.where(labels > 0)[:, 0], tf.int32)  # ground truth only
        sel = self.oic_layer(cas, t_x, t_w, classes)
        kept = tf.reduce_sum(tf.cast(sel.valid, tf.float32))
        total = tf.reduce_sum(sel.losses)
        loss = total if self.cfg.loss_reduction == "sum" else total / tf.maximum(kept, 1.0)
        return self.cfg.loss_scale * loss, kept, sel

    def _loss(self, features, labels, training, mask=None):
        """Mean loss over the videos of a batch.

        One unmasked video (the paper's setting; one per replica in the
        multi-worker loop): as it is.  Padded videos with a mask (a static batch
        size, one video padded to a bucketed length included): the localization
        network runs on the padded batch with the mask (BatchNorm over the real
        snippets, padded positions zeroed after each block, so each video sees
        a lone video's zero padding), the OIC layer on each video alone.
        """
        if mask is not None and features.shape[0] == 1 and self.localizer.synchronized_bn:
            # one video per replica: Keras' synchronized BatchNorm ignores masks
            # (masked moments are not all-reduced), so the video is trimmed
            features = features[:, :tf.cast(tf.reduce_sum(mask[0]), tf.int32)]
            mask = None
        if mask is None:
            if features.shape[0] not in (1, None):
                raise ValueError("several videos in a batch need a mask")
            cas, _ = self.video_cas(features)
            t_x, t_w = self.localizer(features, training=training)
            loss, kept, sel = self._video_loss(cas, t_x[0], t_w[0], labels[0])
            return loss, kept, sel, cas
        out = self.cas_model({"features": features, "mask": mask}, training=False)
        cas = tf.stop_gradient(cas_ops.gated_cas(out["cas_logits"], out["p_fg"],
                                                 self.cas_gate, self.cas_gate_threshold))
        t_x, t_w = self.localizer(features, training=training, mask=mask)
        losses, kepts = [], []
        for b in range(features.shape[0]):
            n = tf.cast(tf.reduce_sum(mask[b]), tf.int32)
            loss, kept, sel = self._video_loss(cas[b, :n], t_x[b, :n], t_w[b, :n], labels[b])
            losses.append(loss)
            kepts.append(kept)
        return tf.reduce_mean(tf.stack(losses)), tf.reduce_mean(tf.stack(kepts)), sel, cas

    def _track(self, loss, kept, sel):
        self.loss_tracker.update_state(loss)
        self.kept_tracker.update_state(kept)
        # mean inner / outer activation of the kept segments (TensorBoard)
        valid = tf.cast(sel.valid, tf.float32)
        n = tf.maximum(tf.reduce_sum(valid), 1.0)
        self.inner_tracker.update_state(tf.reduce_sum(sel.inner * valid) / n)
        self.outer_tracker.update_state(tf.reduce_sum(sel.outer * valid) / n)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, y = data
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            loss, kept, sel, _ = self._loss(x["features"], y, training=True,
                                            mask=x.get("mask"))
            # the optimizer sums gradients over replicas: scale to the global mean
            scaled = loss / replicas
        variables = self.localizer.trainable_variables
        grads = tape.gradient(scaled, variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        self.optimizer.apply(grads, variables)
        return self._track(loss, kept, sel)

    def test_step(self, data):
        x, y = data
        loss, kept, sel, _ = self._loss(x["features"], y, training=False, mask=x.get("mask"))
        return self._track(loss, kept, sel)

    def detect(self, features, max_detections: int | None = None, top_k: int | None = None):
        """Detections of one video ``[1, T, D]`` (padded to ``max_detections``).

        Returns:
            ``(segments [N, 2] continuous snippets, scores [N], classes [N],
            num_detections [])``.
        """
        max_detections = max_detections or self.cfg.max_detections
        top_k = self.cfg.test_top_k if top_k is None else top_k
        cas, y_hat = self.video_cas(features)
        k = tf.shape(cas)[1]
        if top_k:
            if self.cfg.test_class_score == "mean_cas":  # NOTES: mean un-gated CAS
                out = self.cas_model({"features": features}, training=False)
                y_hat = tf.reduce_mean(tf.nn.softmax(out["cas_logits"][0], axis=-1), axis=0)
            classes = tf.math.top_k(y_hat, k=tf.minimum(top_k, k)).indices
        else:
            classes = tf.range(k)  # AutoLoc §4.3: all classes at test time
        t_x, t_w = self.localizer(features, training=False)
        sel = self.oic_layer(cas, t_x[0], t_w[0], classes, max_per_class=max_detections)
        return oic_select.flatten_detections(sel, max_detections)

    def get_config(self):
        return {"cfg": self.cfg.__dict__, "cas_gate": self.cas_gate,
                "cas_gate_threshold": self.cas_gate_threshold}


#: AutoLocConfig.bn_statistics values (see the config's comment).
BN_STATISTICS = ("video", "population", "video_average", "keras")


def set_bn_statistics(model: AutoLocModel, mode: str, batches=None):
    """Makes the localization network detect with ``mode``'s BatchNorm statistics.

    ``"video"``: each video's own; ``"population"`` / ``"video_average"``:
    recomputed from ``batches`` (``(features, mask)`` of the training videos,
    see :func:`~wtal_tf.layers.localization.recompute_statistics`);
    ``"keras"``: the stored moving averages as they are.
    """
    if mode not in BN_STATISTICS:
        raise ValueError(f"bn_statistics must be one of {BN_STATISTICS}, got {mode!r}")
    model.localizer.test_statistics = "video" if mode == "video" else "moving"
    if mode in STATISTICS_AGGREGATES:
        recompute_statistics(model.localizer, batches, aggregate=mode)


def build_autoloc(cfg: ExperimentConfig, cas_model: CasModel, feature_dim: int,
                  autoloc_cfg: AutoLocConfig | None = None,
                  synchronized_bn: bool = False) -> AutoLocModel:
    model = AutoLocModel(cas_model, autoloc_cfg or cfg.autoloc, cfg.cas_gate,
                         cfg.cas_gate_threshold, synchronized_bn=synchronized_bn)
    model({"features": tf.zeros((1, 4, feature_dim))})
    return model


def make_optimizer(cfg: AutoLocConfig) -> keras.optimizers.Optimizer:
    """SGD, lr 1e-3 divided by 10 every ``lr_step`` iterations, weight decay (AutoLoc §5.2)."""
    schedule = keras.optimizers.schedules.ExponentialDecay(
        cfg.learning_rate, decay_steps=cfg.lr_step, decay_rate=0.1, staircase=True)
    return keras.optimizers.SGD(schedule, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


__all__ = ["AutoLocModel", "BN_STATISTICS", "build_autoloc", "make_optimizer",
           "set_bn_statistics"]


def predict_autoloc_run(run_dir, source, split, progress: bool = False):
    from wtal_tf.training.autoloc_trainer import autoloc_detections, load_autoloc

    model, _, _ = load_autoloc(run_dir)
    return autoloc_detections(model, source, split, progress=progress)
