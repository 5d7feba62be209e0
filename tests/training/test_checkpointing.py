"""The epoch checkpoint restores, by name, everything a resumed fit continues from."""

import json

import keras
import numpy as np
import pytest

from wtal_tf.errors import WtalError
from wtal_tf.training import checkpointing


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _callbacks():
    selection = keras.callbacks.EarlyStopping("loss", patience=10, restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0)
    return [selection, plateau]


def test_restore_gives_back_weights_optimizer_selection_and_plateau(tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    y = x.sum(1, keepdims=True)
    model, callbacks = _model(), _callbacks()
    checkpoint = checkpointing.EpochCheckpoint(tmp_path, model, callbacks)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[*callbacks, checkpoint])
    state = json.loads((tmp_path / checkpointing.STATE).read_text())
    assert state["next_epoch"] == 3 and len(state["history"]["loss"]) == 3
    # min_delta 10: after the first epoch (which sets the best) none counts as better, so
    # the plateau (patience 0) halves the rate at the end of epochs 2 and 3
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05 / 4)

    restored, fresh = _model(), _callbacks()
    progress = checkpointing.saved_progress(tmp_path)
    again = checkpointing.EpochCheckpoint(tmp_path, restored, fresh, progress)
    assert again.restore() == 3
    for a, b in zip(model.weights + model.optimizer.variables,
                    restored.weights + restored.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    again.set_model(restored)
    for callback in fresh:
        callback.set_model(restored)
        callback.on_train_begin()  # resets its counters ...
    again.on_train_begin()         # ... and the checkpoint puts the saved ones back
    selection, plateau = fresh
    assert selection.best == callbacks[0].best and selection.best_epoch == callbacks[0].best_epoch
    assert selection.wait == callbacks[0].wait
    for a, b in zip(selection.best_weights, callbacks[0].best_weights):
        np.testing.assert_array_equal(a, b)
    assert (plateau.wait, plateau.best, plateau.cooldown_counter) == (
        callbacks[1].wait, callbacks[1].best, callbacks[1].cooldown_counter)
    assert again.history == checkpoint.history


def test_a_checkpoint_of_another_model_is_refused_in_one_line(tmp_path):
    model, callbacks = _model(), _callbacks()
    checkpoint = checkpointing.EpochCheckpoint(tmp_path, model, callbacks)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 1.0})
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    other.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    other.optimizer.build(other.trainable_variables)
    again = checkpointing.EpochCheckpoint(tmp_path, other, _callbacks(),
                                          checkpointing.saved_progress(tmp_path))
    with pytest.raises(WtalError, match="do not fit this model"):
        again.restore()


def test_no_state_file_means_nothing_to_resume(tmp_path):
    assert checkpointing.saved_progress(tmp_path) is None
    (tmp_path / checkpointing.STATE).write_text("{")
    with pytest.raises(WtalError, match="unreadable checkpoint"):
        checkpointing.saved_progress(tmp_path)
