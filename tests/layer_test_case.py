"""One shared layer-test helper (keras-hub's ``run_layer_test`` habit).

Every layer and model goes through it: config round trip, the
``serialize_keras_object`` round trip, weight counts, symbolic call, eager
call, and one ``fit`` step that changes the trainable weights.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def _first(out):
    if isinstance(out, dict):
        return next(iter(out.values()))
    if isinstance(out, (tuple, list)):
        return out[0]
    if hasattr(out, "__dataclass_fields__"):  # e.g. oic_select.Selection
        return getattr(out, next(iter(out.__dataclass_fields__)))
    return out


def check_serialization(obj, init_kwargs: dict | None = None):
    """``get_config``/``from_config`` and ``serialize_keras_object`` round trips;
    returns the object rebuilt from its serialization."""
    config = obj.get_config()
    for key, value in (init_kwargs or {}).items():
        assert key in config, f"{key} missing from get_config()"
        assert config[key] == value, f"{key}: {config[key]!r} != {value!r}"
    clone = type(obj).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(obj)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(obj)
    assert keras.saving.serialize_keras_object(revived) == serialized
    return revived


def check_weight_counts(obj, trainable: int, non_trainable: int):
    assert len(obj.trainable_weights) == trainable, (
        f"{len(obj.trainable_weights)} trainable weights, expected {trainable}")
    assert len(obj.non_trainable_weights) == non_trainable, (
        f"{len(obj.non_trainable_weights)} non-trainable weights, expected {non_trainable}")


def run_layer_test(layer_cls, init_kwargs: dict, input_data, expected_output_shape,
                   *, call_kwargs: dict | None = None, trains: bool = True,
                   expected_num_trainable_weights: int | None = None,
                   expected_num_non_trainable_weights: int = 0, symbolic: bool = True):
    """Args:
        input_data: an array (the first call argument), or a dict of call
            arguments for layers called with several tensors.
        expected_num_trainable_weights, expected_num_non_trainable_weights:
            the weight counts after the eager call (required).
        symbolic: whether to call the layer on ``keras.Input`` and fit it
            (single-input layers returning tensors).
    """
    call_kwargs = call_kwargs or {}
    assert expected_num_trainable_weights is not None, "give the expected weight counts"
    # 1. config and serialization round trips: every init arg survives
    layer = layer_cls(**init_kwargs)
    check_serialization(layer, init_kwargs)
    # 2. eager call
    args = dict(input_data) if isinstance(input_data, dict) else {}
    out = layer(**args, **call_kwargs) if args else layer(input_data, **call_kwargs)
    shape = tuple(_first(out).shape)
    assert shape == tuple(expected_output_shape), f"{shape} != {expected_output_shape}"
    check_weight_counts(layer, expected_num_trainable_weights,
                        expected_num_non_trainable_weights)
    # a built layer still serializes to the same config
    check_serialization(layer, init_kwargs)
    if not symbolic:
        return layer
    # 3. symbolic call
    multi = isinstance(out, (tuple, list))
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


def run_model_test(model, inputs, *, expected_num_trainable_weights: int,
                   expected_num_non_trainable_weights: int, init_kwargs: dict | None = None):
    """A built subclassed model: config and serialization round trips, weight
    counts, and a clone from its config that computes the same outputs with
    the same weights.  Returns ``(outputs, clone outputs)``."""
    out = model(inputs)
    check_weight_counts(model, expected_num_trainable_weights,
                        expected_num_non_trainable_weights)
    clone = check_serialization(model, init_kwargs)
    clone(inputs)
    check_weight_counts(clone, expected_num_trainable_weights,
                        expected_num_non_trainable_weights)
    clone.set_weights(model.get_weights())
    cloned = clone(inputs)
    for a, b in zip(tf.nest.flatten(out), tf.nest.flatten(cloned)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    return out, cloned
