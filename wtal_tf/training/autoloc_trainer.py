"""Training AutoLoc with ``fit`` (custom ``train_step``), one video per step (AutoLoc §5.2)."""

from __future__ import annotations

import contextlib
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
from wtal_tf.models.autoloc import (AutoLocModel, build_autoloc, make_optimizer,
                                    set_bn_statistics)
from wtal_tf.training import callbacks as cb
from wtal_tf.training import resume as resume_lib
from wtal_tf.training import run_dir as rd
from wtal_tf.training.cas_trainer import WEIGHTS, keras_verbosity, load_cas_model, save_weights

CAS_SUBDIR = "cas"


def _one_video(element):
    return {"features": element["features"]}, element["labels"]


def train_autoloc(cfg: ExperimentConfig, source: DataSource, cas_run_dir, run_dir, *,
                  seed: int | None = None, epochs: int | None = None, progress: bool = True,
                  cas_model=None, resume: bool = False, strategy=None,
                  videos_per_step: int = 1) -> AutoLocModel:
    """Trains the localization branch on a frozen CAS model; writes a self-contained run.

    The CAS run is copied into ``run_dir/cas`` so that the AutoLoc run
    directory holds the whole detector (predict and export need nothing else).
    ``resume`` continues a killed run from ``run_dir/checkpoint``.

    ``strategy``: a ``tf.distribute`` strategy (``wtal_tf.training.distribute``):
    mirrored runs ``fit`` with one video per replica; multi-worker runs a custom
    loop.  ``videos_per_step``: videos per step in one process (AutoLoc's is 1;
    G reproduces a G-replica run).
    """
    run_dir = Path(run_dir)
    seed = cfg.autoloc.seed if seed is None else seed
    epochs = cfg.autoloc.epochs if epochs is None else epochs
    keras.utils.set_random_seed(seed)
    distributed = strategy is not None and strategy.num_replicas_in_sync > 1
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return _train_multiworker(cfg, source, cas_run_dir, run_dir, strategy, seed, epochs,
                                  progress)
    if distributed:
        with strategy.scope():
            cas_model, _, _ = load_cas_model(cas_run_dir)
    elif cas_model is None:
        cas_model, _, _ = load_cas_model(cas_run_dir)
    state = resume_lib.load_state(run_dir / resume_lib.CHECKPOINT) if resume else None
    if state is None:
        shutil.rmtree(run_dir / resume_lib.CHECKPOINT, ignore_errors=True)
        rd.write_run(run_dir, cfg, source.to_dict(), seed=seed, epochs=epochs,
                     cas_run=str(cas_run_dir))
        _copy_cas_run(cas_run_dir, run_dir / CAS_SUBDIR)
    scope = strategy.scope() if distributed else contextlib.nullcontext()
    with scope:
        model = build_autoloc(cfg, cas_model, source.feature_dim, synchronized_bn=distributed)
        model.compile(optimizer=make_optimizer(cfg.autoloc))
        model.optimizer.build(model.localizer.trainable_variables)
    start_epoch = (resume_lib.apply_state(model, model.localizer.trainable_variables, state)
                   if state else 0)
    per_step = strategy.num_replicas_in_sync if distributed else videos_per_step

    buckets = cfg.autoloc.length_buckets_per_octave

    def batch_fn(ds):
        if per_step == 1 and buckets <= 0:
            return pipeline.one_video_per_step(ds, prefetch=False).map(_one_video)
        # padded to a bucketed length with a mask (even one video per step): TF
        # keeps a oneDNN primitive per conv input shape for the life of the
        # process, so unbucketed lengths make memory grow with the videos seen
        return pipeline.padded_batches(ds, per_step, drop_remainder=True, prefetch=False,
                                       length_buckets_per_octave=buckets).map(_padded_videos)

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
              steps_per_epoch=max(1, len(source.video_ids("train")) // per_step),
              callbacks=callbacks,
              shuffle=False, verbose=keras_verbosity(progress))
    elapsed = time.perf_counter() - start
    set_bn_statistics(model, cfg.autoloc.bn_statistics, bn_batches(source, buckets))
    save_weights(model, run_dir / WEIGHTS)  # the whole detector, CAS model included
    io_utils.write_json(run_dir / "history.json", checkpoint.history, indent=1)
    rd.update_run(run_dir, train_seconds=elapsed, best_epoch=best.best_epoch + 1,
                  selected_by=monitor, resumed_from_epoch=start_epoch if state else None)
    return model


def bn_batches(source: DataSource, length_buckets_per_octave: int = 16, batch_size: int = 8):
    """``(features, mask)`` batches of the training videos, for recomputing BatchNorm
    statistics (padded to bucketed lengths: a bounded set of conv shapes)."""
    ds = pipeline.padded_batches(source.dataset("train"), batch_size,
                                 length_buckets_per_octave=length_buckets_per_octave)
    return ((e["features"], e["mask"]) for e in ds)


def _padded_videos(element):
    return {"features": element["features"], "mask": element["mask"]}, element["labels"]


def _train_multiworker(cfg, source, cas_run_dir, run_dir, strategy, seed, epochs, progress):
    """AutoLoc on MultiWorkerMirroredStrategy: a custom loop, one video per replica."""
    from wtal_tf.training import distribute

    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        cas_model, _, _ = load_cas_model(cas_run_dir)
        model = build_autoloc(cfg, cas_model, source.feature_dim, synchronized_bn=True)
        optimizer = make_optimizer(cfg.autoloc)
        variables = model.localizer.trainable_variables
        optimizer.build(variables)
    n = len(source.video_ids("train"))
    steps = n // replicas

    def dataset_fn(ctx):
        def per_epoch(ds):
            # global step s uses videos s*G .. s*G+G-1 of the epoch; replica i takes the i-th
            ds = ds.take(steps * replicas).shard(ctx.num_input_pipelines,
                                                 ctx.input_pipeline_id)
            return pipeline.one_video_per_step(ds, prefetch=False).map(_one_video)
        return source.epoch_batches("train", seed=seed, start_epoch=0, epochs=epochs,
                                    batch_fn=per_epoch)

    def loss_fn(x, y):
        return model._loss(x["features"], y, training=True)[0]

    start = time.perf_counter()
    history = distribute.custom_loop(strategy, variables, optimizer, loss_fn, dataset_fn,
                                     epochs=epochs, steps_per_epoch=steps, progress=progress)
    rd.write_run(run_dir, cfg, source.to_dict(), seed=seed, epochs=epochs,
                 cas_run=str(cas_run_dir), strategy="multiworker", replicas=replicas,
                 chief=distribute.is_chief(strategy))
    _copy_cas_run(cas_run_dir, run_dir / CAS_SUBDIR)
    set_bn_statistics(model, cfg.autoloc.bn_statistics,
                      bn_batches(source, cfg.autoloc.length_buckets_per_octave))
    save_weights(model, run_dir / WEIGHTS)
    io_utils.write_json(run_dir / "history.json", history, indent=1)
    rd.update_run(run_dir, train_seconds=time.perf_counter() - start, selected_by="last epoch")
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
    rd.load_weights(model, Path(run_dir) / WEIGHTS)
    return model, cfg, data


def detect_fn(model: AutoLocModel, feature_dim: int, *, max_detections=None, top_k=None):
    """A ``tf.function`` for one video ``[T, D]`` (any T), traced once."""
    @tf.function(input_signature=[tf.TensorSpec([None, feature_dim], tf.float32)])
    def detect(features):
        return model.detect(features[None], max_detections=max_detections, top_k=top_k)
    return detect


def autoloc_detections(model: AutoLocModel, source: DataSource, split: str, *,
                       max_detections=None, top_k=None, progress: bool = False) -> Detections:
    fn = detect_fn(model, source.feature_dim, max_detections=max_detections, top_k=top_k)
    parts = []
    videos = source.dataset(split)
    if progress:
        from tqdm.auto import tqdm
        videos = tqdm(videos, total=len(source.video_ids(split)), desc=f"AutoLoc on {split}",
                      unit="video")
    for e in videos:
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
