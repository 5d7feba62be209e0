"""AutoLoc's localization network B (AutoLoc §4.3)."""

from __future__ import annotations

import keras


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
                 synchronized_bn: bool = False, **kwargs):
        super().__init__(**kwargs)
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
                                          name=f"conv_{i}") for i in range(num_conv_layers)]
        # synchronized: BatchNorm statistics over every replica's video
        # (tf.distribute), so distributed training matches one process
        self.norms = [keras.layers.BatchNormalization(synchronized=synchronized_bn,
                                                      name=f"bn_{i}")
                      for i in range(num_conv_layers)]
        # Small initial regressions: every anchor starts close to itself.
        self.head = keras.layers.Conv1D(2 * num_anchors, head_kernel, padding="same",
                                        kernel_initializer=keras.initializers.RandomNormal(
                                            stddev=0.001), name="pred")

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
        for conv, norm in zip(self.convs, self.norms):
            x = norm(conv(x), training=training, mask=mask)
            x = keras.ops.relu(x) if self.activation == "relu" else keras.ops.leaky_relu(
                x, negative_slope=0.1)
            if m is not None:
                x = x * m
        out = self.head(x)
        return out[..., : self.num_anchors], out[..., self.num_anchors:]

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[:-1]) + (self.num_anchors,)
        return shape, shape

    def get_config(self):
        config = super().get_config()
        config.update({"num_anchors": self.num_anchors, "filters": self.filters,
                       "num_conv_layers": self.num_conv_layers,
                       "activation": self.activation, "head_kernel": self.head_kernel,
                       "synchronized_bn": self.synchronized_bn})
        return config
