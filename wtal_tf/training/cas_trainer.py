"""Training the CAS model with ``model.fit`` (RefineLoc §4.2)."""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from wtal_tf import io_utils
from wtal_tf.configs import ExperimentConfig
from wtal_tf.data import pipeline
from wtal_tf.data.source import DataSource
from wtal_tf.models.cas_model import CasModel
from wtal_tf.training import callbacks as cb
from wtal_tf.training import resume as resume_lib
from wtal_tf.training import run_dir as rd

WEIGHTS = "model.weights.h5"


def build_cas_model(cfg: ExperimentConfig, num_classes: int, feature_dim: int,
                    beta: float = 0.0) -> CasModel:
    model = CasModel(num_classes, num_layers=cfg.model.num_layers,
                     attention=cfg.model.attention, video_loss=cfg.model.video_loss,
                     beta=beta)
    model({"features": tf.zeros((1, 1, feature_dim)), "mask": tf.ones((1, 1))})
    return model


def keras_verbosity(progress: bool) -> int:
    """A progress bar on a terminal, one line per epoch in logs."""
    if not progress:
        return 0
    return 1 if sys.stdout.isatty() else 2


def train_cas(cfg: ExperimentConfig, source: DataSource, run_dir, *, seed: int | None = None,
              progress: bool = True, pseudo=None, beta: float = 0.0,
              epochs: int | None = None, resume: bool = False) -> CasModel:
    """Trains one CAS model; writes weights, config and history to ``run_dir``.

    Args:
        cfg: the experiment config (model, train, thresholds).
        source: the data.
        run_dir: where to write.
        seed: overrides ``cfg.train.seed``.
        pseudo: RefineLoc pseudo labels (``wtal_tf.models.pseudo_labels.PseudoLabels``)
            for iterations >= 1, else ``None``.
        beta: weight of the pseudo-label loss (eq. 4).
        epochs: overrides ``cfg.train.epochs``.
        resume: continue from ``run_dir/checkpoint`` (a killed run) if present.
    """
    run_dir = Path(run_dir)
    seed = cfg.train.seed if seed is None else seed
    epochs = cfg.train.epochs if epochs is None else epochs
    keras.utils.set_random_seed(seed)
    state = resume_lib.load_state(run_dir / resume_lib.CHECKPOINT) if resume else None
    if state is None:
        shutil.rmtree(run_dir / resume_lib.CHECKPOINT, ignore_errors=True)
        rd.write_run(run_dir, cfg, source.to_dict(), seed=seed, epochs=epochs, beta=beta)
    extras = specs = None
    if pseudo is not None:
        extras, specs = pseudo.as_extras()

    def batch_fn(ds):
        return pipeline.padded_batches(ds, cfg.train.batch_size, prefetch=False).map(_to_inputs)

    has_holdout = bool(source.video_ids("holdout"))
    holdout = None
    if has_holdout:
        holdout = batch_fn(source.dataset("holdout", extras=extras, extra_specs=specs))
    model = build_cas_model(cfg, len(source.classes), source.feature_dim, beta)
    model.compile(optimizer=keras.optimizers.Adam(cfg.train.learning_rate))
    model.optimizer.build(model.trainable_variables)
    start_epoch = resume_lib.apply_state(model, model.trainable_variables, state) if state else 0
    n_train = len(source.video_ids("train"))
    steps = max(1, math.ceil(n_train / cfg.train.batch_size))
    train = source.epoch_batches("train", seed=seed, start_epoch=start_epoch, epochs=epochs,
                                 batch_fn=batch_fn, extras=extras, extra_specs=specs)
    monitor = "val_loss" if has_holdout else "loss"
    best = cb.BestWeights(monitor)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=cfg.train.lr_decay,
                                                patience=cfg.train.lr_patience, verbose=0)
    callbacks = [best, plateau]
    if has_holdout:
        callbacks.insert(0, cb.HoldoutVideoMap(holdout))
        sample = [e for e in source.dataset("holdout").take(3)]
        callbacks.append(cb.CasImages(sample, run_dir / "tensorboard", every=10))
    callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"),
                                                 write_graph=False))
    checkpoint = resume_lib.EpochCheckpoint(run_dir / resume_lib.CHECKPOINT, best=best,
                                            plateau=plateau, state=state)
    callbacks.append(checkpoint)
    start = time.perf_counter()
    model.fit(train, validation_data=holdout, epochs=epochs, initial_epoch=start_epoch,
              steps_per_epoch=steps, callbacks=callbacks,
              shuffle=False,  # the data order is a function of (seed, epoch)
              verbose=keras_verbosity(progress))
    elapsed = time.perf_counter() - start
    save_weights(model, run_dir / WEIGHTS)
    io_utils.write_json(run_dir / "history.json", checkpoint.history, indent=1)
    rd.update_run(run_dir, train_seconds=elapsed, best_epoch=best.best_epoch + 1,
                  selected_by=monitor, resumed_from_epoch=start_epoch if state else None)
    return model


def _to_inputs(element):
    x = {"features": element["features"], "mask": element["mask"]}
    if "pseudo_labels" in element:
        x["pseudo_labels"] = element["pseudo_labels"]
        x["pseudo_weights"] = element["pseudo_weights"] * element["mask"]
    return x, element["labels"]


def save_weights(model: keras.Model, path) -> Path:
    """Saves weights atomically (temporary file, then rename)."""
    with io_utils.atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(str(tmp))
    return Path(path)


def load_cas_model(run_dir) -> tuple[CasModel, ExperimentConfig, dict]:
    cfg, data, _ = rd.read_run(run_dir)
    model = build_cas_model(cfg, len(data["classes"]), data["feature_dim"])
    path = Path(run_dir) / WEIGHTS
    if not path.exists():
        from wtal_tf.errors import WtalError
        raise WtalError("no trained weights (model.weights.h5): did training finish?",
                        path=run_dir)
    model.load_weights(str(path))
    return model, cfg, data


def read_history(run_dir) -> dict:
    return json.loads((Path(run_dir) / "history.json").read_text())


__all__ = ["train_cas", "load_cas_model", "build_cas_model", "save_weights"]
