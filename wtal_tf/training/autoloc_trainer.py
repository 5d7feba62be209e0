"""Training AutoLoc with ``fit`` (custom ``train_step``), one video per step (AutoLoc §5.2)."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from wtal_tf import io_utils
from wtal_tf.configs import ExperimentConfig
from wtal_tf.data import pipeline
from wtal_tf.data.detections import Detections
from wtal_tf.data.source import DataSource
from wtal_tf.data.video import seconds_per_snippet, snippet_span_to_seconds
from wtal_tf.errors import WtalError
from wtal_tf.models.autoloc import AutoLocModel, build_autoloc, make_optimizer
from wtal_tf.training import callbacks as cb
from wtal_tf.training import resume as resume_lib
from wtal_tf.training import run_dir as rd
from wtal_tf.training.cas_trainer import WEIGHTS, keras_verbosity, load_cas_model, save_weights

CAS_SUBDIR = "cas"


def _one_video(element):
    return {"features": element["features"]}, element["labels"]


def train_autoloc(cfg: ExperimentConfig, source: DataSource, cas_run_dir, run_dir, *,
                  seed: int | None = None, epochs: int | None = None, progress: bool = True,
                  cas_model=None, resume: bool = False) -> AutoLocModel:
    """Trains the localization branch on a frozen CAS model; writes a self-contained run.

    The CAS run is copied into ``run_dir/cas`` so that the AutoLoc run
    directory holds the whole detector (predict and export need nothing else).
    ``resume`` continues a killed run from ``run_dir/checkpoint``.
    """
    run_dir = Path(run_dir)
    seed = cfg.autoloc.seed if seed is None else seed
    epochs = cfg.autoloc.epochs if epochs is None else epochs
    keras.utils.set_random_seed(seed)
    if cas_model is None:
        cas_model, _, _ = load_cas_model(cas_run_dir)
    state = resume_lib.load_state(run_dir / resume_lib.CHECKPOINT) if resume else None
    if state is None:
        shutil.rmtree(run_dir / resume_lib.CHECKPOINT, ignore_errors=True)
        rd.write_run(run_dir, cfg, source.to_dict(), seed=seed, epochs=epochs,
                     cas_run=str(cas_run_dir))
        _copy_cas_run(cas_run_dir, run_dir / CAS_SUBDIR)
    model = build_autoloc(cfg, cas_model, source.feature_dim)
    model.compile(optimizer=make_optimizer(cfg.autoloc))
    model.optimizer.build(model.localizer.trainable_variables)
    start_epoch = (resume_lib.apply_state(model, model.localizer.trainable_variables, state)
                   if state else 0)

    def batch_fn(ds):
        return pipeline.one_video_per_step(ds, prefetch=False).map(_one_video)

    train = source.epoch_batches("train", seed=seed, start_epoch=start_epoch, epochs=epochs,
                                 batch_fn=batch_fn)
    has_holdout = bool(source.video_ids("holdout"))
    holdout = batch_fn(source.dataset("holdout")) if has_holdout else None
    monitor = "val_loss" if has_holdout else "loss"
    best = cb.BestWeights(monitor)
    checkpoint = resume_lib.EpochCheckpoint(run_dir / resume_lib.CHECKPOINT, best=best,
                                            state=state)
    callbacks = [best, keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"),
                                                   write_graph=False, update_freq=20),
                 checkpoint]
    start = time.perf_counter()
    model.fit(train, validation_data=holdout, epochs=epochs, initial_epoch=start_epoch,
              steps_per_epoch=max(1, len(source.video_ids("train"))), callbacks=callbacks,
              shuffle=False, verbose=keras_verbosity(progress))
    elapsed = time.perf_counter() - start
    save_weights(model, run_dir / WEIGHTS)  # the whole detector, CAS model included
    io_utils.write_json(run_dir / "history.json", checkpoint.history, indent=1)
    rd.update_run(run_dir, train_seconds=elapsed, best_epoch=best.best_epoch + 1,
                  selected_by=monitor, resumed_from_epoch=start_epoch if state else None)
    return model


def _copy_cas_run(src, dst):
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        return
    with io_utils.atomic_directory(dst) as tmp:
        for name in ("run.json", "config.json", "data.json", WEIGHTS):
            if (src / name).exists():
                shutil.copy2(src / name, tmp / name)


def load_autoloc(run_dir) -> tuple[AutoLocModel, ExperimentConfig, dict]:
    cfg, data, _ = rd.read_run(run_dir)
    if cfg.method != "autoloc":
        raise WtalError(f"run directory holds a {cfg.method!r} model, not 'autoloc'",
                        path=run_dir)
    cas_model, _, _ = load_cas_model(Path(run_dir) / CAS_SUBDIR)
    model = build_autoloc(cfg, cas_model, data["feature_dim"])
    model.load_weights(str(Path(run_dir) / WEIGHTS))
    return model, cfg, data


def detect_fn(model: AutoLocModel, feature_dim: int, *, max_detections=None, top_k=None):
    """A ``tf.function`` for one video ``[T, D]`` (any T), traced once."""
    @tf.function(input_signature=[tf.TensorSpec([None, feature_dim], tf.float32)])
    def detect(features):
        return model.detect(features[None], max_detections=max_detections, top_k=top_k)
    return detect


def autoloc_detections(model: AutoLocModel, source: DataSource, split: str, *,
                       max_detections=None, top_k=None) -> Detections:
    fn = detect_fn(model, source.feature_dim, max_detections=max_detections, top_k=top_k)
    parts = []
    for e in source.dataset(split):
        vid = e["video_id"].numpy().decode()
        segs, scores, classes, num = fn(e["features"])
        n = int(num)
        if not n:
            continue
        segs, scores, classes = segs.numpy()[:n], scores.numpy()[:n], classes.numpy()[:n]
        stride = seconds_per_snippet(source.annotation(vid), int(e["num_snippets"]))
        start, end = snippet_span_to_seconds(segs[:, 0], segs[:, 1], stride)
        parts.append(Detections(np.full(n, vid), start.astype(float), end.astype(float),
                                scores.astype(float), np.asarray(source.classes)[classes]))
    return Detections.concatenate(parts)


def with_autoloc(cfg: ExperimentConfig, **changes) -> ExperimentConfig:
    return cfg.replace(autoloc=dataclasses.replace(cfg.autoloc, **changes))
