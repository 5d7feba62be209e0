"""RefineLoc's WSTAL base model: snippet CAS + bg/fg attention -> video label.

It is RefineLoc's iteration 0 and the source of the CAS that AutoLoc
localises on (AutoLoc used an external UntrimmedNet; we train our own).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from wtal_tf.configs import ExperimentConfig
from wtal_tf.layers.mlp import SnippetMLP
from wtal_tf.ops import cas as cas_ops
from wtal_tf.ops.shapes import bucket_length


@keras.saving.register_keras_serializable(package="wtal_tf")
class CasModel(keras.Model):
    """Snippet-level classification MLP and bg/fg attention MLP (RefineLoc §3.1).

    Args:
        num_classes: K (from the data).
        num_layers: L fully connected layers per MLP (RL §4.2: 2).
        attention: ``"softmax2"`` (bg/fg 2-way softmax, the paper's) or
            ``"sigmoid1"`` (one sigmoid output, an option of the official code).
        video_loss: ``"paper"`` or ``"official"`` (see
            :func:`wtal_tf.ops.cas.video_label_loss`).
        beta: weight of the pseudo-label loss (RL eq. 4); 0 at iteration 0.
        input_stream: ``"all"`` features, or one stream of a two-stream
            feature: ``"first_half"`` / ``"second_half"`` (in the interchange
            layout, RGB then flow; synthetic: appearance then motion).
        pseudo_weighting, pseudo_bg_fraction: the form of eq. 4's pseudo-label
            term (:func:`wtal_tf.ops.cas.pseudo_label_batch_loss`).
        length_buckets_per_octave: the MLPs run on the time axis padded (and
            masked) up to :func:`wtal_tf.ops.shapes.bucket_length`, outputs are
            cut back to T: a bounded set of shapes for TF's per-shape kernel
            caches (< 1/16 extra work; 0 = exact lengths).

    Call arguments:
        inputs: dict with ``features`` ``(batch, time, D)`` and optionally
            ``mask`` ``(batch, time)`` (1 = real snippet).  Training inputs may
            also hold ``pseudo_labels`` and ``pseudo_weights`` ``(batch, time)``.

    Returns:
        dict: ``cas_logits`` ``(batch, time, K)``, ``attention_logits``
        ``(batch, time, 2|1)``, ``attention_time`` and ``p_fg``
        ``(batch, time)``, ``video_scores`` ``(batch, K)``.

    Example:
        >>> model = CasModel(num_classes=20)
        >>> out = model({"features": tf.zeros((2, 7, 64)), "mask": tf.ones((2, 7))})
        >>> out["video_scores"].shape
        TensorShape([2, 20])
    """

    def __init__(self, num_classes: int, num_layers: int = 2, attention: str = "softmax2",
                 video_loss: str = "paper", beta: float = 0.0,
                 length_buckets_per_octave: int = 16, input_stream: str = "all",
                 pseudo_weighting: str = "video", pseudo_bg_fraction: float | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        if input_stream not in ("all", "first_half", "second_half"):
            raise ValueError(f"input_stream must be 'all', 'first_half' or 'second_half', "
                             f"got {input_stream!r}")
        if pseudo_weighting not in cas_ops.PSEUDO_WEIGHTINGS:
            raise ValueError(f"pseudo_weighting must be one of {cas_ops.PSEUDO_WEIGHTINGS}")
        self.input_stream = input_stream
        self.pseudo_weighting = pseudo_weighting
        self.pseudo_bg_fraction = (None if pseudo_bg_fraction is None
                                   else float(pseudo_bg_fraction))
        self.length_buckets_per_octave = int(length_buckets_per_octave)
        if attention not in ("softmax2", "sigmoid1"):
            raise ValueError(f"attention must be 'softmax2' or 'sigmoid1', got {attention!r}")
        self.num_classes = num_classes
        self.num_layers = num_layers
        self.attention = attention
        self.video_loss = video_loss
        self.beta = float(beta)
        self.classifier, self.attention_mlp = self._make_heads()

    def _make_heads(self):
        # the model's dtype policy and trainable state (a model rebuilt from a
        # frozen one's config stays frozen)
        return (SnippetMLP(self.num_classes, self.num_layers, name="classification",
                           dtype=self.dtype_policy, trainable=self.trainable),
                SnippetMLP(2 if self.attention == "softmax2" else 1, self.num_layers,
                           name="attention", dtype=self.dtype_policy,
                           trainable=self.trainable))

    def call(self, inputs, training=False):
        features = inputs["features"]
        if self.input_stream == "first_half":
            features = features[..., : features.shape[-1] // 2]
        elif self.input_stream == "second_half":
            features = features[..., features.shape[-1] // 2:]
        mask = inputs.get("mask")
        if mask is None:
            mask = tf.ones(tf.shape(features)[:2], features.dtype)
        length = tf.shape(features)[1]
        if self.length_buckets_per_octave > 0:
            # computed on a bucketed length, masked (why: wtal_tf.ops.shapes)
            extra = bucket_length(length, self.length_buckets_per_octave) - length
            features = tf.pad(features, [[0, 0], [0, extra], [0, 0]])
            mask = tf.pad(mask, [[0, 0], [0, extra]])
        cas_logits, attention_logits = self.heads(features)
        attention_time = cas_ops.temporal_attention(attention_logits, mask)
        return {
            "cas_logits": cas_logits[:, :length],
            "attention_logits": attention_logits[:, :length],
            "attention_time": attention_time[:, :length],
            "p_fg": cas_ops.foreground_probability(attention_logits)[:, :length],
            "video_scores": cas_ops.video_scores(cas_logits, attention_time),
        }

    def heads(self, features):
        """``(cas_logits [B, T, K], attention_logits [B, T, 2|1])``."""
        return self.classifier(features), self.attention_mlp(features)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = tf.reduce_mean(cas_ops.video_label_loss(
            y, y_pred["cas_logits"], y_pred["attention_time"], self.video_loss))
        if self.beta > 0 and isinstance(x, dict) and "pseudo_labels" in x:
            loss += self.beta * cas_ops.pseudo_label_batch_loss(
                y_pred["attention_logits"], x["pseudo_labels"], x["pseudo_weights"],
                self.pseudo_weighting, self.pseudo_bg_fraction)
        for extra in self.losses:
            loss += extra
        return loss

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "num_layers": self.num_layers,
                       "attention": self.attention, "video_loss": self.video_loss,
                       "beta": self.beta,
                       "length_buckets_per_octave": self.length_buckets_per_octave,
                       "input_stream": self.input_stream,
                       "pseudo_weighting": self.pseudo_weighting,
                       "pseudo_bg_fraction": self.pseudo_bg_fraction})
        return config


@keras.saving.register_keras_serializable(package="wtal_tf")
class SupervisedSnippetModel(CasModel):
    """The fully supervised reference: a snippet classifier trained with temporal labels.

    One MLP (as the CAS model's classification head) over ``K + 1`` classes,
    the last one background, trained with per-snippet cross-entropy against
    the ground-truth segments.  Its outputs take the CAS model's form, so the
    same post-processing runs on it: ``cas_logits`` are the K action logits
    (softmax = p(class | action)), ``attention_logits`` = ``[background
    logit, logsumexp(action logits)]`` (2-way softmax = p(action) exactly).
    An upper bound for the weakly supervised methods on the same features
    (the papers compare with SSN's fully supervised numbers, AutoLoc Table 1).

    Call arguments: as :class:`CasModel`; training inputs also hold
    ``snippet_labels`` ``(batch, time)`` in ``0..K`` (K = background).
    """

    def __init__(self, num_classes: int, num_layers: int = 2, **kwargs):
        kwargs.pop("attention", None)
        super().__init__(num_classes, num_layers=num_layers, attention="softmax2", **kwargs)

    def _make_heads(self):
        # one classifier over K actions + background; no separate attention
        return SnippetMLP(self.num_classes + 1, self.num_layers, name="classification",
                          dtype=self.dtype_policy, trainable=self.trainable), None

    def heads(self, features):
        logits = self.classifier(features)
        action = logits[..., :-1]
        attention = tf.stack([logits[..., -1], tf.reduce_logsumexp(action, axis=-1)], axis=-1)
        return action, attention

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels = tf.cast(x["snippet_labels"], tf.int32)
        mask = tf.cast(x["mask"], tf.float32)
        # p(k) = p(action) p(k | action), p(bg) = 1 - p(action): log-probabilities of K + 1
        log_action = tf.nn.log_softmax(y_pred["attention_logits"], axis=-1)
        log_k = tf.nn.log_softmax(y_pred["cas_logits"], axis=-1) + log_action[..., 1:]
        log_p = tf.concat([log_k, log_action[..., :1]], axis=-1)
        nll = -tf.gather(log_p, labels, axis=-1, batch_dims=2)
        loss = tf.reduce_sum(nll * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
        for extra in self.losses:
            loss += extra
        return loss


def build_cas_model(cfg: ExperimentConfig, num_classes: int, feature_dim: int,
                    beta: float = 0.0, pseudo_bg_fraction: float | None = None) -> CasModel:
    """The CAS model of ``cfg`` built for ``feature_dim`` features (the supervised
    reference for ``method="supervised"``)."""
    common = dict(num_layers=cfg.model.num_layers, video_loss=cfg.model.video_loss,
                  length_buckets_per_octave=cfg.train.length_buckets_per_octave,
                  input_stream=cfg.model.input_stream)
    if cfg.method == "supervised":
        model = SupervisedSnippetModel(num_classes, **common)
    else:
        model = CasModel(num_classes, attention=cfg.model.attention, beta=beta,
                         pseudo_weighting=cfg.refine.pseudo_weighting,
                         pseudo_bg_fraction=pseudo_bg_fraction, **common)
    model({"features": tf.zeros((1, 1, feature_dim))})
    return model
