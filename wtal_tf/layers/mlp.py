"""A snippet-wise MLP whose hidden widths halve layer by layer (RefineLoc §3.1)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="wtal_tf")
class SnippetMLP(keras.layers.Layer):
    """``num_layers`` fully connected layers applied to every snippet.

    The hidden layers halve the width (``D/2, D/4, ...``) with ReLU between
    them; the last layer outputs ``units`` values with no activation.  With
    ``num_layers = 2`` and ``D = 2048`` that is RefineLoc's ``2048 -> 1024 ->
    units`` (§3.1, §4.2).

    Args:
        units: output size (classes for the CAS head, 2 or 1 for attention).
        num_layers: number of fully connected layers L (>= 1).
        **kwargs: standard layer arguments.

    Call arguments:
        features: ``(batch, time, D)`` snippet features.

    Returns:
        ``(batch, time, units)`` logits.

    Example:
        >>> layer = SnippetMLP(units=20, num_layers=2)
        >>> layer(keras.ops.zeros((1, 5, 64))).shape
        TensorShape([1, 5, 20])

    References:
        Pardo et al., RefineLoc, WACV 2021, §3.1.
    """

    def __init__(self, units: int, num_layers: int = 2, **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.units = units
        self.num_layers = num_layers
        self.hidden = []
        self.out = None

    def build(self, input_shape):
        # sublayers made here take the layer's dtype policy and trainable state
        # (a model frozen before it was built stays frozen)
        width = int(input_shape[-1])
        shape = tuple(input_shape)
        for i in range(self.num_layers - 1):
            width = max(width // 2, 1)
            dense = keras.layers.Dense(width, activation="relu", name=f"hidden_{i}",
                                       dtype=self.dtype_policy, trainable=self.trainable)
            dense.build(shape)
            shape = shape[:-1] + (width,)
            self.hidden.append(dense)
        self.out = keras.layers.Dense(self.units, name="logits", dtype=self.dtype_policy,
                                      trainable=self.trainable)
        self.out.build(shape)

    def call(self, features):
        x = features
        for dense in self.hidden:
            x = dense(x)
        return self.out(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "num_layers": self.num_layers})
        return config
