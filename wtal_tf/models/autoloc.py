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
from wtal_tf.ops.gradients import zeros_for_missing


@keras.saving.register_keras_serializable(package="wtal_tf")
class AutoLocModel(keras.Model):
    """The whole AutoLoc detector around a frozen :class:`CasModel`.

    Args:
        cas_model: a trained CAS model (frozen here).
        anchors: anchor widths in snippets (AutoLoc §5.2).
        inflation, min_outer, cas_threshold, oic_threshold, nms_iou, loss: the
            OIC layer's (:class:`~wtal_tf.layers.oic.OICLayer`).
        filters, num_conv_layers, activation, head_kernel, synchronized_bn: the
            localization network's (:class:`~wtal_tf.layers.localization.LocalizationNetwork`).
        loss_reduction: ``"mean"`` (the sum over kept segments divided by
            their number, the official code's gradient scale) or ``"sum"``
            (AutoLoc §4.3 as written).  A video with no kept segment
            contributes 0 and no gradient.
        loss_scale: a factor on the loss (the official gradient's 0.5).
        bn_statistics: one of :data:`BN_STATISTICS` (see :func:`set_bn_statistics`).
        test_top_k: classes detected per video at test time (0 = all, AutoLoc §4.3).
        test_class_score: how those classes are ranked: ``"video_scores"`` (ŷ)
            or ``"mean_cas"`` (the mean un-gated CAS, the official code's).
        max_detections: the padded number of detections :meth:`detect` returns.
        cas_gate, cas_gate_threshold: how the CAS is gated by p_fg
            (:func:`wtal_tf.ops.cas.gated_cas`).
        **kwargs: standard model arguments.

    Call arguments:
        inputs: dict with ``features`` ``(batch, time, D)``.

    Returns:
        ``(t_x, t_w)`` each ``(batch, time, anchors)``.

    Example:
        >>> cas = CasModel(num_classes=3)
        >>> model = AutoLocModel(cas, anchors=(1, 2, 4))
        >>> t_x, t_w = model({"features": tf.zeros((1, 9, 8))})
        >>> t_x.shape
        TensorShape([1, 9, 3])
    """

    def __init__(self, cas_model: CasModel, anchors=(1, 2, 4, 8, 16, 32),
                 inflation: float = 0.25, min_outer: float = 1.0, filters: int = 128,
                 num_conv_layers: int = 3, activation: str = "relu", head_kernel: int = 3,
                 cas_threshold: float = 0.1, oic_threshold: float = -0.3,
                 nms_iou: float = 0.4, loss: str = "oic", loss_reduction: str = "mean",
                 loss_scale: float = 1.0, bn_statistics: str = "population",
                 test_top_k: int = 0, test_class_score: str = "video_scores",
                 max_detections: int = 100, cas_gate: str = "hard",
                 cas_gate_threshold: float = 0.5, synchronized_bn: bool = False, **kwargs):
        super().__init__(**kwargs)
        if bn_statistics not in BN_STATISTICS:
            raise ValueError(f"bn_statistics must be one of {BN_STATISTICS}, got "
                             f"{bn_statistics!r}")
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
        self.cas_model = cas_model
        self.cas_model.trainable = False
        self.anchors = tuple(int(a) for a in anchors)
        self.inflation = inflation
        self.min_outer = min_outer
        self.filters = filters
        self.num_conv_layers = num_conv_layers
        self.activation = activation
        self.head_kernel = head_kernel
        self.cas_threshold = cas_threshold
        self.oic_threshold = oic_threshold
        self.nms_iou = nms_iou
        self.loss_kind = loss
        self.loss_reduction = loss_reduction
        self.loss_scale = loss_scale
        self.bn_statistics = bn_statistics
        self.test_top_k = test_top_k
        self.test_class_score = test_class_score
        self.max_detections = max_detections
        self.cas_gate = cas_gate
        self.cas_gate_threshold = cas_gate_threshold
        self.synchronized_bn = synchronized_bn
        self.localizer = LocalizationNetwork(
            len(self.anchors), filters, num_conv_layers, activation, head_kernel,
            synchronized_bn=synchronized_bn,
            test_statistics="video" if bn_statistics == "video" else "moving",
            name="localizer", dtype=self.dtype_policy)
        self.oic_layer = OICLayer(self.anchors, inflation, min_outer, cas_threshold,
                                  oic_threshold, nms_iou, loss, name="oic",
                                  dtype=self.dtype_policy)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.kept_tracker = keras.metrics.Mean(name="kept_segments")
        self.inner_tracker = keras.metrics.Mean(name="inner_activation")
        self.outer_tracker = keras.metrics.Mean(name="outer_activation")

    @property
    def metrics(self):
        return [self.loss_tracker, self.kept_tracker, self.inner_tracker, self.outer_tracker]

    def build(self, input_shape=None):
        # the layers build on their first call (features of any D); an unbuilt CAS
        # model (one rebuilt from a config) is built too, so that the detector
        # holds all its weights before any are loaded
        if not self.cas_model.built and isinstance(input_shape, dict):
            depth = input_shape["features"][-1]
            self.cas_model({"features": tf.zeros((1, 1, depth))})
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
        loss = total if self.loss_reduction == "sum" else total / tf.maximum(kept, 1.0)
        return self.loss_scale * loss, kept, sel

    def batch_loss(self, features, labels, training, mask=None):
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
        losses, kept_counts = [], []
        for b in range(features.shape[0]):
            n = tf.cast(tf.reduce_sum(mask[b]), tf.int32)
            loss, kept, sel = self._video_loss(cas[b, :n], t_x[b, :n], t_w[b, :n], labels[b])
            losses.append(loss)
            kept_counts.append(kept)
        return tf.reduce_mean(tf.stack(losses)), tf.reduce_mean(tf.stack(kept_counts)), sel, cas

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
            loss, kept, sel, _ = self.batch_loss(x["features"], y, training=True,
                                            mask=x.get("mask"))
            # the optimizer sums gradients over replicas: scale to the global mean
            scaled = loss / replicas
        variables = self.localizer.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(zeros_for_missing(grads, variables), variables)
        return self._track(loss, kept, sel)

    def test_step(self, data):
        x, y = data
        loss, kept, sel, _ = self.batch_loss(x["features"], y, training=False, mask=x.get("mask"))
        return self._track(loss, kept, sel)

    def detect(self, features, max_detections: int | None = None, top_k: int | None = None):
        """Detections of one video ``[1, T, D]`` (padded to ``max_detections``).

        Returns:
            ``(segments [N, 2] continuous snippets, scores [N], classes [N],
            num_detections [])``.
        """
        max_detections = max_detections or self.max_detections
        top_k = self.test_top_k if top_k is None else top_k
        cas, y_hat = self.video_cas(features)
        k = tf.shape(cas)[1]
        if top_k:
            if self.test_class_score == "mean_cas":  # NOTES: mean un-gated CAS
                out = self.cas_model({"features": features}, training=False)
                y_hat = tf.reduce_mean(tf.nn.softmax(out["cas_logits"][0], axis=-1), axis=0)
            classes = tf.math.top_k(y_hat, k=tf.minimum(top_k, k)).indices
        else:
            classes = tf.range(k)  # AutoLoc §4.3: all classes at test time
        t_x, t_w = self.localizer(features, training=False)
        sel = self.oic_layer(cas, t_x[0], t_w[0], classes, max_per_class=max_detections)
        return oic_select.flatten_detections(sel, max_detections)

    def get_config(self):
        config = super().get_config()
        config.update({
            "cas_model": keras.saving.serialize_keras_object(self.cas_model),
            "anchors": list(self.anchors), "inflation": self.inflation,
            "min_outer": self.min_outer, "filters": self.filters,
            "num_conv_layers": self.num_conv_layers, "activation": self.activation,
            "head_kernel": self.head_kernel, "cas_threshold": self.cas_threshold,
            "oic_threshold": self.oic_threshold, "nms_iou": self.nms_iou,
            "loss": self.loss_kind, "loss_reduction": self.loss_reduction,
            "loss_scale": self.loss_scale, "bn_statistics": self.bn_statistics,
            "test_top_k": self.test_top_k, "test_class_score": self.test_class_score,
            "max_detections": self.max_detections, "cas_gate": self.cas_gate,
            "cas_gate_threshold": self.cas_gate_threshold,
            "synchronized_bn": self.synchronized_bn})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cas_model"] = keras.saving.deserialize_keras_object(config["cas_model"])
        return cls(**config)


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
    """The AutoLoc model of an experiment config, built for ``feature_dim`` features."""
    a = autoloc_cfg or cfg.autoloc
    model = AutoLocModel(
        cas_model, anchors=a.anchors, inflation=a.inflation, min_outer=a.min_outer,
        filters=a.filters, num_conv_layers=a.num_conv_layers, activation=a.activation,
        head_kernel=a.head_kernel, cas_threshold=a.cas_threshold,
        oic_threshold=a.oic_threshold, nms_iou=a.nms_iou, loss=a.loss,
        loss_reduction=a.loss_reduction, loss_scale=a.loss_scale,
        bn_statistics=a.bn_statistics, test_top_k=a.test_top_k,
        test_class_score=a.test_class_score, max_detections=a.max_detections,
        cas_gate=cfg.cas_gate, cas_gate_threshold=cfg.cas_gate_threshold,
        synchronized_bn=synchronized_bn)
    model({"features": tf.zeros((1, 4, feature_dim))})
    return model


def make_optimizer(cfg: AutoLocConfig) -> keras.optimizers.Optimizer:
    """SGD, lr 1e-3 divided by 10 every ``lr_step`` iterations, weight decay (AutoLoc §5.2)."""
    schedule = keras.optimizers.schedules.ExponentialDecay(
        cfg.learning_rate, decay_steps=cfg.lr_step, decay_rate=0.1, staircase=True)
    return keras.optimizers.SGD(schedule, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


__all__ = ["AutoLocModel", "BN_STATISTICS", "build_autoloc", "make_optimizer",
           "set_bn_statistics"]

