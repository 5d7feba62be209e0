"""Resumable training: everything a fit needs to continue where a killed one stopped.

At every epoch end the :class:`EpochCheckpoint` callback writes, atomically,
``checkpoint/state.npz`` (model weights, optimizer variables, the best
weights kept for model selection) and ``checkpoint/state.json`` (the next
epoch, the learning rate, the plateau scheduler's and the selector's state,
the history so far).  With ``--resume`` a trainer restores them, and the
data order -- a pure function of ``(seed, epoch)`` -- continues where it
stopped; with deterministic ops on CPU the resumed run ends with the same
weights as an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from wtal_tf import io_utils
from wtal_tf.errors import WtalError

CHECKPOINT = "checkpoint"


def _optimizer_variables(optimizer):
    return list(optimizer.variables)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the full training state after every epoch (put it last in the list)."""

    def __init__(self, directory, *, best=None, plateau=None, state=None):
        super().__init__()
        self.directory = Path(directory)
        self.best = best
        self.plateau = plateau
        self.state = state          # a restored state to re-apply at train begin
        self.history: dict[str, list] = {} if state is None else dict(state["history"])

    def on_train_begin(self, logs=None):
        # callbacks reset their state in on_train_begin; re-apply the restored one
        if self.state is None:
            return
        if self.plateau is not None:
            for k in ("wait", "best", "cooldown_counter"):
                if k in self.state["plateau"]:
                    setattr(self.plateau, k, self.state["plateau"][k])
        if self.best is not None and self.state.get("best") is not None:
            self.best.best = self.state["best"]["value"]
            self.best.best_epoch = self.state["best"]["epoch"]
            self.best.best_weights = self.state.get("best_weights")

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        arrays = {f"w{i}": w.numpy() for i, w in enumerate(self.model.weights)}
        opt = self.model.optimizer
        arrays.update({f"o{i}": v.numpy() for i, v in enumerate(_optimizer_variables(opt))})
        best = None
        if self.best is not None and self.best.best_weights is not None:
            arrays.update({f"b{i}": w for i, w in enumerate(self.best.best_weights)})
            best = {"value": float(self.best.best), "epoch": int(self.best.best_epoch)}
        state = {"next_epoch": epoch + 1, "history": self.history, "best": best,
                 "plateau": {} if self.plateau is None else {
                     "wait": int(self.plateau.wait),
                     "best": None if self.plateau.best is None else float(self.plateau.best),
                     "cooldown_counter": int(self.plateau.cooldown_counter)}}
        self.directory.mkdir(parents=True, exist_ok=True)
        with io_utils.atomic_path(self.directory / "state.npz", suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        io_utils.write_json(self.directory / "state.json", state, indent=1)


def load_state(directory) -> dict | None:
    directory = Path(directory)
    if not (directory / "state.json").exists() or not (directory / "state.npz").exists():
        return None
    try:
        state = json.loads((directory / "state.json").read_text())
        int(state["next_epoch"]), dict(state["history"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise WtalError(f"unreadable checkpoint ({type(e).__name__}: {e}); pass --overwrite "
                        "to start the run over", path=directory / "state.json") from None
    try:
        with np.load(directory / "state.npz", allow_pickle=False) as z:
            state["weights"] = [z[f"w{i}"]
                                for i in range(sum(k.startswith("w") for k in z.files))]
            state["optimizer"] = [z[f"o{i}"]
                                  for i in range(sum(k.startswith("o") for k in z.files))]
            nb = sum(k.startswith("b") for k in z.files)
            state["best_weights"] = [z[f"b{i}"] for i in range(nb)] if nb else None
    except Exception as e:  # noqa: BLE001 -- zipfile, zlib, numpy: all mean "corrupted"
        raise WtalError(f"unreadable checkpoint ({type(e).__name__}: {e}); pass --overwrite "
                        "to start the run over", path=directory / "state.npz") from None
    state["_directory"] = str(directory)
    return state


def apply_state(model: keras.Model, variables_for_optimizer, state: dict) -> int:
    """Assigns restored weights and optimizer variables; returns the next epoch."""
    shapes = [tuple(v.shape) for v in model.weights]
    if shapes != [tuple(np.shape(w)) for w in state["weights"]]:
        raise WtalError("the checkpoint's weights do not fit this model (other data, D or "
                        "config?); resume with the same --data and --config, or pass "
                        "--overwrite to start over", path=state.get("_directory"))
    for var, value in zip(model.weights, state["weights"]):
        var.assign(value)
    opt = model.optimizer
    opt.build(variables_for_optimizer)
    for var, value in zip(_optimizer_variables(opt), state["optimizer"]):
        var.assign(value)
    return int(state["next_epoch"])
