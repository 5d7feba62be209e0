"""One shared layer-test helper (keras-hub's ``run_layer_test`` habit).

Every layer goes through it: config round trip, symbolic call, eager call,
and one ``fit`` step that changes the trainable weights.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def run_layer_test(layer_cls, init_kwargs: dict, input_data, expected_output_shape,
                   *, call_kwargs: dict | None = None, trains: bool = True):
    call_kwargs = call_kwargs or {}
    # 1. config round trip: every init arg appears in the config and survives
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert key in config, f"{key} missing from get_config()"
        assert config[key] == value, f"{key}: {config[key]!r} != {value!r}"
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    # 2. eager call
    out = layer(input_data, **call_kwargs)
    multi = isinstance(out, (tuple, list))
    first = out[0] if multi else (out if not isinstance(out, dict) else
                                  next(iter(out.values())))
    shape = tuple(first.shape)
    assert shape == tuple(expected_output_shape), f"{shape} != {expected_output_shape}"
    # 3. symbolic call
    sym_in = keras.Input(shape=tuple(input_data.shape[1:]), batch_size=None)
    sym_out = layer_cls(**init_kwargs)(sym_in, **call_kwargs)
    sym_first = sym_out[0] if multi else sym_out
    assert tuple(sym_first.shape)[1:] == tuple(expected_output_shape)[1:]
    # 4. one fit step
    if trains:
        model = keras.Model(sym_in, sym_out)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        before = [w.numpy().copy() for w in model.trainable_weights]
        rng = np.random.default_rng(0)
        target = rng.standard_normal(expected_output_shape).astype(np.float32)
        if multi:
            target = tuple(rng.standard_normal(tuple(o.shape)).astype(np.float32)
                           for o in out)
        model.fit(tf.constant(input_data), target, epochs=1, batch_size=len(input_data),
                  verbose=0)
        after = [w.numpy() for w in model.trainable_weights]
        assert any(not np.allclose(a, b) for a, b in zip(before, after)), "no weight moved"
    return layer
