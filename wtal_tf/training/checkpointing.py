"""Resumable training on TensorFlow's checkpoint API (``tf.train.CheckpointManager``).

After every epoch :class:`EpochCheckpoint` saves, keyed by name, the model,
the optimizer (its slots, step and learning rate), the weights kept for model
selection and the counters of the selection and plateau callbacks; then
``state.json`` (the next epoch and the history so far, read without
TensorFlow by the CLI's checks) names the checkpoint to resume from::

    RUN_DIR/checkpoint/ckpt-<epochs done>.index, .data-00000-of-00001
    RUN_DIR/checkpoint/checkpoint     (the manager's own index)
    RUN_DIR/checkpoint/state.json     {"next_epoch": n, "history": {...}}

The manager keeps the last two checkpoints, so a process killed between a
checkpoint and its ``state.json`` still finds the one ``state.json`` names.
With ``--resume`` the runner restores it and the data order -- a pure
function of ``(seed, epoch)`` -- continues where it stopped; with
deterministic ops on CPU the resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from wtal_tf import io_utils
from wtal_tf.errors import WtalError

CHECKPOINT = "checkpoint"
STATE = "state.json"
_PREFIX = "ckpt"

#: The counters of Keras callbacks a resumed fit must continue from (their
#: ``on_train_begin`` resets them).  Each is stored as a float64 (exact for every
#: value these take) and a flag for ``None`` (``best`` before any epoch).
_COUNTERS = {
    keras.callbacks.EarlyStopping: ("best", "best_epoch", "wait"),
    keras.callbacks.ReduceLROnPlateau: ("best", "wait", "cooldown_counter"),
}
_INTEGERS = ("best_epoch", "wait", "cooldown_counter")


def _unreadable(error: Exception, path) -> WtalError:
    return WtalError(f"unreadable checkpoint ({type(error).__name__}: {error}); pass "
                     "--overwrite to start the run over", path=path)


def saved_progress(directory) -> dict | None:
    """``{"next_epoch", "history"}`` of an interrupted training, or ``None``."""
    path = Path(directory) / STATE
    if not path.exists():
        return None
    try:
        progress = json.loads(path.read_text())
        int(progress["next_epoch"]), dict(progress["history"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise _unreadable(e, path) from None
    return progress


def checkpoint_prefix(directory, epochs_done: int) -> Path:
    """The checkpoint written after ``epochs_done`` epochs."""
    return Path(directory) / f"{_PREFIX}-{int(epochs_done)}"


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole training state after every epoch (put it last in the list).

    Args:
        directory: the run's ``checkpoint/`` folder.
        model: the compiled model, its optimizer built.
        callbacks: the callbacks whose counters are saved and restored
            (those of the types in ``_COUNTERS``; the others are ignored).
        progress: :func:`saved_progress` of the run to resume, else ``None``.
    """

    def __init__(self, directory, model: keras.Model, callbacks, progress: dict | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.tracked = [(f"{type(c).__name__}_{i}", c) for i, c in enumerate(callbacks)
                        if type(c) in _COUNTERS]
        self.counters = {name: {attr: (tf.Variable(np.nan, dtype=tf.float64, trainable=False),
                                       tf.Variable(False, trainable=False))
                                for attr in _COUNTERS[type(c)]}
                         for name, c in self.tracked}
        self.selected = [tf.Variable(w, trainable=False) for w in model.get_weights()]
        self.has_selected = tf.Variable(False, trainable=False)
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                                              selected_weights=self.selected,
                                              has_selected_weights=self.has_selected,
                                              callbacks=self.counters)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory,
                                                  max_to_keep=2, checkpoint_name=_PREFIX)
        self.progress = progress
        self.history: dict[str, list] = {} if progress is None else dict(progress["history"])

    def restore(self) -> int:
        """Restores the checkpoint ``state.json`` names; returns the next epoch."""
        epoch = int(self.progress["next_epoch"])
        prefix = checkpoint_prefix(self.directory, epoch)
        data = prefix.with_name(prefix.name + ".data-00000-of-00001")
        try:
            self.checkpoint.restore(str(prefix)).assert_existing_objects_matched()
        except (ValueError, AssertionError) as e:
            if "shape" in str(e).lower() or isinstance(e, AssertionError):
                raise WtalError("the checkpoint's weights do not fit this model (other data, "
                                "D or config?); resume with the same --data and --config, or "
                                "pass --overwrite to start over", path=self.directory) from None
            raise _unreadable(e, data) from None
        except Exception as e:  # noqa: BLE001 -- TF raises a dozen types for a bad file
            raise _unreadable(e, data) from None
        return epoch

    def on_train_begin(self, logs=None):
        # the callbacks have just reset their counters: put the restored ones back
        if self.progress is None:
            return
        for name, callback in self.tracked:
            for attr, (var, is_set) in self.counters[name].items():
                value = float(var.numpy())
                if not bool(is_set.numpy()):
                    value = None
                elif attr in _INTEGERS:
                    value = int(value)
                setattr(callback, attr, value)
            restored_selection = bool(self.has_selected.numpy())
            if isinstance(callback, keras.callbacks.EarlyStopping) and restored_selection:
                callback.best_weights = [v.numpy() for v in self.selected]

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        for name, callback in self.tracked:
            for attr, (var, is_set) in self.counters[name].items():
                value = getattr(callback, attr, None)
                is_set.assign(value is not None)
                var.assign(np.nan if value is None else float(value))
            best = getattr(callback, "best_weights", None)
            if best is not None:
                for var, value in zip(self.selected, best):
                    var.assign(value)
                self.has_selected.assign(True)
        self.manager.save(checkpoint_number=epoch + 1)
        io_utils.write_json(self.directory / STATE,
                            {"next_epoch": epoch + 1, "history": self.history}, indent=1)
