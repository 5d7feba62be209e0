"""Training the CAS model with ``model.fit`` (RefineLoc §4.2)."""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from wtal_tf import io_utils
from wtal_tf.configs import ExperimentConfig
from wtal_tf.data import pipeline
from wtal_tf.data.source import DataSource
from wtal_tf.models.cas_model import CasModel, SupervisedSnippetModel
from wtal_tf.training import callbacks as cb
from wtal_tf.training import resume as resume_lib
from wtal_tf.training import run_dir as rd

WEIGHTS = "model.weights.h5"


def build_cas_model(cfg: ExperimentConfig, num_classes: int, feature_dim: int,
                    beta: float = 0.0, pseudo_bg_fraction: float | None = None) -> CasModel:
    """The CAS model of ``cfg`` (the supervised reference for ``method="supervised"``)."""
    common = dict(num_layers=cfg.model.num_layers, video_loss=cfg.model.video_loss,
                  length_buckets_per_octave=cfg.train.length_buckets_per_octave,
                  input_stream=cfg.model.input_stream)
    if cfg.method == "supervised":
        model = SupervisedSnippetModel(num_classes, **common)
    else:
        model = CasModel(num_classes, attention=cfg.model.attention, beta=beta,
                         pseudo_weighting=cfg.refine.pseudo_weighting,
                         pseudo_bg_fraction=pseudo_bg_fraction, **common)
    model({"features": tf.zeros((1, 1, feature_dim)), "mask": tf.ones((1, 1))})
    return model


def snippet_label_extras(source: DataSource):
    """Per-snippet ground-truth classes (``0..K``, K = background) as pipeline extras.

    Temporal annotations: only the fully supervised reference reads them.
    Where instances of two classes overlap, the later-listed one labels the
    snippet (THUMOS'14 has a few such overlaps).
    """
    from wtal_tf.data.video import seconds_per_snippet, segments_to_mask

    background = len(source.classes)

    def labels(vid):
        ann = source.annotation(vid)
        t_len = source.num_snippets(vid)
        per_class = segments_to_mask(ann.segments, t_len, seconds_per_snippet(ann, t_len),
                                     source.classes)
        out = np.full(t_len, background, np.float32)
        for k in range(len(source.classes)):
            out[per_class[:, k]] = k
        return out

    return {"snippet_labels": labels}, {"snippet_labels": tf.TensorSpec([None], tf.float32)}


def keras_verbosity(progress: bool) -> int:
    """A progress bar on a terminal, one line per epoch in logs."""
    if not progress:
        return 0
    return 1 if sys.stdout.isatty() else 2


def train_cas(cfg: ExperimentConfig, source: DataSource, run_dir, *, seed: int | None = None,
              progress: bool = True, pseudo=None, beta: float = 0.0,
              epochs: int | None = None, resume: bool = False, strategy=None) -> CasModel:
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
        strategy: a ``tf.distribute`` strategy: mirrored trains with ``fit``
            (the batch split over replicas), multi-worker with a custom loop.
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
    bg_fraction = None
    if pseudo is not None:
        extras, specs = pseudo.as_extras()
        bg_fraction = 1.0 - pseudo.foreground_ratio()  # over all training pseudo labels
    elif cfg.method == "supervised":
        extras, specs = snippet_label_extras(source)

    # Under a mirrored strategy every replica must get an equal share of each
    # batch: training drops the last partial batch, validation runs one video
    # per replica (at most replicas - 1 holdout videos are left out).
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    n_train = len(source.video_ids("train"))
    batch = cfg.train.batch_size
    if replicas > 1:
        batch = max(replicas, min(batch, n_train) // replicas * replicas)

    def batch_fn(ds, size=batch):
        return pipeline.padded_batches(ds, size, drop_remainder=replicas > 1,
                                       prefetch=False).map(_to_inputs)

    has_holdout = len(source.video_ids("holdout")) >= replicas > 0
    holdout = None
    if has_holdout:
        holdout = batch_fn(source.dataset("holdout", extras=extras, extra_specs=specs),
                           batch if replicas == 1 else replicas)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return _train_cas_multiworker(cfg, source, run_dir, strategy, seed, epochs, beta,
                                      extras, specs, progress, bg_fraction)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = build_cas_model(cfg, len(source.classes), source.feature_dim, beta,
                                bg_fraction)
        model.compile(optimizer=keras.optimizers.Adam(cfg.train.learning_rate))
        model.optimizer.build(model.trainable_variables)
    start_epoch = resume_lib.apply_state(model, model.trainable_variables, state) if state else 0
    steps = max(1, math.ceil(n_train / batch) if replicas == 1 else n_train // batch)
    # length-sorted windows of 32 batches, batches then in random order: little
    # padding (a few %), still a random order of batches every epoch
    train = source.epoch_batches("train", seed=seed, start_epoch=start_epoch, epochs=epochs,
                                 batch_fn=batch_fn, extras=extras, extra_specs=specs,
                                 length_window=32 * batch, batch_size=batch)
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


def _train_cas_multiworker(cfg, source, run_dir, strategy, seed, epochs, beta, extras, specs,
                           progress, bg_fraction=None):
    """The CAS model on MultiWorkerMirroredStrategy: a custom loop; each replica takes
    its share of every global batch of ``cfg.train.batch_size`` videos."""
    from wtal_tf.training import distribute

    replicas = strategy.num_replicas_in_sync
    n = len(source.video_ids("train"))
    per_replica = max(1, min(cfg.train.batch_size, n) // replicas)
    with strategy.scope():
        model = build_cas_model(cfg, len(source.classes), source.feature_dim, beta,
                                bg_fraction)
        optimizer = keras.optimizers.Adam(cfg.train.learning_rate)
        optimizer.build(model.trainable_variables)
    steps = max(1, n // (per_replica * replicas))

    def dataset_fn(ctx):
        def per_epoch(ds):
            ds = ds.take(steps * per_replica * replicas).shard(ctx.num_input_pipelines,
                                                               ctx.input_pipeline_id)
            return pipeline.padded_batches(ds, per_replica, drop_remainder=True,
                                           prefetch=False).map(_to_inputs)
        return source.epoch_batches("train", seed=seed, start_epoch=0, epochs=epochs,
                                    batch_fn=per_epoch, extras=extras, extra_specs=specs)

    def loss_fn(x, y):
        return model.compute_loss(x, y, model(x, training=True))

    start = time.perf_counter()
    history = distribute.custom_loop(strategy, model.trainable_variables, optimizer, loss_fn,
                                     dataset_fn, epochs=epochs, steps_per_epoch=steps,
                                     progress=progress)
    save_weights(model, run_dir / WEIGHTS)
    io_utils.write_json(run_dir / "history.json", history, indent=1)
    rd.update_run(run_dir, train_seconds=time.perf_counter() - start, strategy="multiworker",
                  replicas=replicas, selected_by="last epoch")
    return model


def _to_inputs(element):
    x = {"features": element["features"], "mask": element["mask"]}
    if "pseudo_labels" in element:
        x["pseudo_labels"] = element["pseudo_labels"]
        x["pseudo_weights"] = element["pseudo_weights"] * element["mask"]
    if "snippet_labels" in element:
        x["snippet_labels"] = element["snippet_labels"]
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
    rd.load_weights(model, path)
    return model, cfg, data


__all__ = ["train_cas", "load_cas_model", "build_cas_model", "save_weights"]
