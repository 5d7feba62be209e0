"""AutoLoc's localization network B (AutoLoc §4.3)."""

from __future__ import annotations

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="wtal_tf")
class LocalizationNetwork(keras.layers.Layer):
    """Temporal convolutions that regress ``(t_x, t_w)`` for every anchor.

    ``num_conv_layers`` x [Conv1D(filters, 3, same) -> BatchNorm -> activation],
    then a Conv1D(``2 * num_anchors``, ``head_kernel``, same).  The paper uses
    ReLU and a kernel-3 head; the official code LeakyReLU(0.1), bias-free
    convolutions and a kernel-1 head (``activation="leaky_relu"``,
    ``head_kernel=1``).

    Args:
        num_anchors: M, the number of anchor scales.
        filters: channels of the hidden convolutions (AutoLoc: 128).
        num_conv_layers: hidden convolutions (AutoLoc: 3).
        activation: ``"relu"`` or ``"leaky_relu"``.
        head_kernel: kernel size of the prediction layer (AutoLoc: 3).
        synchronized_bn: BatchNorm statistics over every replica's video
            (``tf.distribute``), so distributed training matches one process.
        test_statistics: what normalises a video at inference: ``"moving"``
            (the stored statistics; after training, :func:`recompute_statistics`
            sets them exactly) or ``"video"`` (the video's own masked
            statistics, as every one-video training step normalises it).
        **kwargs: standard layer arguments.

    Call arguments:
        features: ``(batch, time, D)``.
        training: BatchNorm mode.
        mask: optional ``(batch, time)``, 1 on real snippets of padded videos.

    Returns:
        ``(t_x, t_w)``, each ``(batch, time, num_anchors)``.

    References:
        Shou et al., AutoLoc, ECCV 2018, §4.3.
    """

    def __init__(self, num_anchors: int, filters: int = 128, num_conv_layers: int = 3,
                 activation: str = "relu", head_kernel: int = 3,
                 synchronized_bn: bool = False, test_statistics: str = "moving", **kwargs):
        super().__init__(**kwargs)
        if test_statistics not in ("moving", "video"):
            raise ValueError(f"test_statistics must be 'moving' or 'video', got "
                             f"{test_statistics!r}")
        self.test_statistics = test_statistics
        self.supports_masking = True  # call() takes the mask itself
        if activation not in ("relu", "leaky_relu"):
            raise ValueError(f"activation must be 'relu' or 'leaky_relu', got {activation!r}")
        self.num_anchors = num_anchors
        self.filters = filters
        self.num_conv_layers = num_conv_layers
        self.activation = activation
        self.head_kernel = head_kernel
        self.synchronized_bn = synchronized_bn
        use_bias = activation == "relu"  # the official blocks are bias-free (BN follows)
        self.convs = [keras.layers.Conv1D(filters, 3, padding="same", use_bias=use_bias,
                                          name=f"conv_{i}", dtype=self.dtype_policy)
                      for i in range(num_conv_layers)]
        # synchronized: BatchNorm statistics over every replica's video
        # (tf.distribute), so distributed training matches one process
        self.norms = [keras.layers.BatchNormalization(synchronized=synchronized_bn,
                                                      name=f"bn_{i}", dtype=self.dtype_policy)
                      for i in range(num_conv_layers)]
        # Small initial regressions: every anchor starts close to itself.
        self.head = keras.layers.Conv1D(2 * num_anchors, head_kernel, padding="same",
                                        kernel_initializer=keras.initializers.RandomNormal(
                                            stddev=0.001), name="pred",
                                        dtype=self.dtype_policy)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv, norm in zip(self.convs, self.norms):
            conv.build(shape)
            shape = shape[:-1] + (self.filters,)
            norm.build(shape)
        self.head.build(shape)

    def call(self, features, training=False, mask=None):
        # With a mask (several padded videos), BatchNorm takes its statistics
        # over real snippets only and padded positions are zeroed after each
        # block, so every video sees the zero padding of a lone video.
        x = features
        m = None if mask is None else keras.ops.cast(mask, x.dtype)[..., None]
        per_video = not training and self.test_statistics == "video"
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x)
            x = (normalize_per_video(norm, x, mask) if per_video
                 else norm(x, training=training, mask=mask))
            x = self._activate(x, m)
        out = self.head(x)
        return out[..., : self.num_anchors], out[..., self.num_anchors:]

    def _activate(self, x, m):
        x = keras.ops.relu(x) if self.activation == "relu" else keras.ops.leaky_relu(
            x, negative_slope=0.1)
        return x if m is None else x * m

    def block_moments(self, features, mask=None):
        """Per-video moments of every BatchNorm's input, as one-video training sees them.

        Each block normalises each video by its own masked statistics (what a
        training step of one video does), and the moments of the next block's
        input are taken from that.

        Args:
            features: ``(batch, time, D)``.
            mask: optional ``(batch, time)``.

        Returns:
            a list (one per block) of ``(mean, variance, count)``: ``mean`` and
            ``variance`` ``(batch, filters)`` over each video's real snippets,
            ``count`` ``(batch,)`` its number of real snippets.
        """
        x = features
        m = None if mask is None else keras.ops.cast(mask, x.dtype)[..., None]
        moments = []
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x)
            mean, var, count = _masked_moments(x, mask)
            moments.append((mean, var, count))
            x = _normalize(norm, x, mean[:, None], var[:, None])
            x = self._activate(x, m)
        return moments

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[:-1]) + (self.num_anchors,)
        return shape, shape

    def get_config(self):
        config = super().get_config()
        config.update({"num_anchors": self.num_anchors, "filters": self.filters,
                       "num_conv_layers": self.num_conv_layers,
                       "activation": self.activation, "head_kernel": self.head_kernel,
                       "synchronized_bn": self.synchronized_bn,
                       "test_statistics": self.test_statistics})
        return config


def _masked_moments(x, mask):
    """Mean and (biased) variance over time of ``x`` ``(batch, time, C)``, per video."""
    if mask is None:
        count = keras.ops.cast(keras.ops.shape(x)[1], x.dtype) * keras.ops.ones_like(x[:, 0, 0])
        mean = keras.ops.mean(x, axis=1)
        var = keras.ops.mean(keras.ops.square(x - mean[:, None]), axis=1)
        return mean, var, count
    w = keras.ops.cast(mask, x.dtype)[..., None]
    count = keras.ops.sum(w, axis=1)                                   # (batch, 1)
    mean = keras.ops.sum(x * w, axis=1) / keras.ops.maximum(count, 1.0)
    var = keras.ops.sum(keras.ops.square(x - mean[:, None]) * w, axis=1) / keras.ops.maximum(
        count, 1.0)
    return mean, var, count[:, 0]


def _normalize(norm, x, mean, var):
    """BatchNorm's affine normalisation with given statistics (broadcastable to x)."""
    inv = keras.ops.rsqrt(var + norm.epsilon)
    return (x - mean) * inv * norm.gamma + norm.beta


def normalize_per_video(norm, x, mask=None):
    """``norm`` applied with each video's own masked statistics (no state update)."""
    mean, var, _ = _masked_moments(x, mask)
    return _normalize(norm, x, mean[:, None], var[:, None])


#: How :func:`recompute_statistics` aggregates the training videos' moments.
STATISTICS_AGGREGATES = ("population", "video_average")


def recompute_statistics(network: LocalizationNetwork, batches, aggregate: str = "population"):
    """Sets every BatchNorm's stored statistics exactly from the training videos.

    Keras' moving averages (momentum 0.99, no bias correction) still hold
    ~27% of their initial mean 0 / variance 1 after an epoch of ~130
    one-video steps; Caffe's BatchNorm, which the paper's numbers come from,
    carries nothing of them (NOTES).  Here the statistics are recomputed with
    the final weights, each block's input taken as one-video training sees it
    (:meth:`LocalizationNetwork.block_moments`).

    Args:
        network: a built :class:`LocalizationNetwork`.
        batches: an iterable of ``(features, mask)`` (``mask`` may be ``None``).
        aggregate: ``"population"``: mean and variance over all real snippets
            of all videos (precise BN); ``"video_average"``: the mean of the
            per-video means and of the per-video (unbiased) variances, what
            Caffe's BatchNorm accumulates over an epoch of one-video batches.

    Returns:
        the list of ``(mean, variance)`` NumPy arrays set, one per block.
    """
    if aggregate not in STATISTICS_AGGREGATES:
        raise ValueError(f"aggregate must be one of {STATISTICS_AGGREGATES}, got {aggregate!r}")
    sums = None
    for features, mask in batches:
        moments = network.block_moments(features, mask)
        if sums is None:
            sums = [[0.0, 0.0, 0.0] for _ in moments]
        for acc, (mean, var, count) in zip(sums, moments):
            mean, var, count = (np.asarray(keras.ops.convert_to_numpy(v), np.float64)
                                for v in (mean, var, count))
            if aggregate == "population":   # Σ n, Σ n·mean, Σ n·(var + mean²)
                acc[0] += count.sum()
                acc[1] += (count[:, None] * mean).sum(0)
                acc[2] += (count[:, None] * (var + mean ** 2)).sum(0)
            else:                           # Σ 1, Σ mean, Σ unbiased var
                acc[0] += len(count)
                acc[1] += mean.sum(0)
                acc[2] += (var * (count / np.maximum(count - 1, 1))[:, None]).sum(0)
    if sums is None:
        raise ValueError("no videos to recompute BatchNorm statistics from")
    stats = []
    for norm, (n, s1, s2) in zip(network.norms, sums):
        mean = s1 / n
        var = s2 / n - mean ** 2 if aggregate == "population" else s2 / n
        var = np.maximum(var, 0.0)
        norm.moving_mean.assign(mean.astype(np.float32))
        norm.moving_variance.assign(var.astype(np.float32))
        stats.append((mean, var))
    return stats
