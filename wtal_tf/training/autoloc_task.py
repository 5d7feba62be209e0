"""AutoLoc's task: the localization branch on a frozen CAS model, one video per step
(AutoLoc §5.2), its loss the OIC loss (the model's custom ``train_step``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from wtal_tf import io_utils, runs
from wtal_tf.configs import ExperimentConfig
from wtal_tf.data import pipeline
from wtal_tf.data.source import DataSource
from wtal_tf.inference.loading import CAS_SUBDIR, load_cas_model
from wtal_tf.models.autoloc import (AutoLocModel, build_autoloc, make_optimizer,
                                    set_bn_statistics)
from wtal_tf.training import runner
from wtal_tf.training.task import Task


def _one_video(element):
    return {"features": element["features"]}, element["labels"]


def _padded_videos(element):
    return {"features": element["features"], "mask": element["mask"]}, element["labels"]


def bn_batches(source: DataSource, length_buckets_per_octave: int = 16, batch_size: int = 8):
    """``(features, mask)`` batches of the training videos, for recomputing BatchNorm
    statistics (padded to bucketed lengths, :func:`wtal_tf.ops.shapes.bucket_length`)."""
    ds = pipeline.padded_batches(source.dataset("train"), batch_size,
                                 length_buckets_per_octave=length_buckets_per_octave)
    return ((e["features"], e["mask"]) for e in ds)


def copy_cas_run(src, dst) -> None:
    """The CAS run's files into ``dst`` (atomically), so that an AutoLoc run
    directory holds the whole detector (predict and export need nothing else)."""
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        return
    with io_utils.atomic_directory(dst) as tmp:
        for name in ("run.json", "config.json", "data.json", runs.WEIGHTS):
            if (src / name).exists():
                shutil.copy2(src / name, tmp / name)


class AutoLocTask(Task):
    """Trains AutoLoc's localization branch on the frozen CAS model of ``cas_run_dir``.

    Args:
        cfg, source: the experiment config and the data.
        cas_run_dir: a finished CAS (or RefineLoc) run.
        seed: overrides ``cfg.autoloc.seed``.
        epochs: overrides ``cfg.autoloc.epochs``.
        cas_model: that run's model, already loaded (else it is loaded).
        videos_per_step: videos per step in one process (AutoLoc's is 1; G
            reproduces a G-replica run).  Under a strategy: one per replica.
    """

    tensorboard_update_freq = 20

    def __init__(self, cfg: ExperimentConfig, source: DataSource, cas_run_dir, *,
                 seed: int | None = None, epochs: int | None = None, cas_model=None,
                 videos_per_step: int = 1):
        super().__init__(cfg, source, seed=cfg.autoloc.seed if seed is None else seed,
                         epochs=cfg.autoloc.epochs if epochs is None else epochs)
        self.cas_run_dir = cas_run_dir
        self.cas_model = cas_model
        self.videos_per_step = videos_per_step
        self.buckets = cfg.autoloc.length_buckets_per_octave

    def run_info(self) -> dict:
        return {"cas_run": str(self.cas_run_dir)}

    def write_artifacts(self, run_dir: Path) -> None:
        copy_cas_run(self.cas_run_dir, run_dir / CAS_SUBDIR)

    def setup(self, strategy) -> None:
        if strategy is not None:  # replicated: the CAS model's variables mirrored too
            with strategy.scope():
                self.cas_model, _, _ = load_cas_model(self.cas_run_dir)
        elif self.cas_model is None:
            self.cas_model, _, _ = load_cas_model(self.cas_run_dir)

    def build_model(self, replicas: int) -> AutoLocModel:
        return build_autoloc(self.cfg, self.cas_model, self.source.feature_dim,
                             synchronized_bn=replicas > 1)

    def optimizer(self):
        return make_optimizer(self.cfg.autoloc)

    def trained_variables(self, model):
        return model.localizer.trainable_variables

    def finish(self, model) -> None:
        set_bn_statistics(model, self.cfg.autoloc.bn_statistics,
                          bn_batches(self.source, self.buckets))

    def _per_step(self, replicas: int) -> int:
        return replicas if replicas > 1 else self.videos_per_step

    def _batches(self, dataset, replicas: int):
        per_step = self._per_step(replicas)
        if per_step == 1 and self.buckets <= 0:
            return pipeline.one_video_per_step(dataset, prefetch=False).map(_one_video)
        # even one video is padded to a bucketed length, with a mask
        # (wtal_tf.ops.shapes: a bounded set of conv shapes)
        return pipeline.padded_batches(dataset, per_step, drop_remainder=True, prefetch=False,
                                       length_buckets_per_octave=self.buckets
                                       ).map(_padded_videos)

    def train_batches(self, start_epoch: int, replicas: int):
        return self.source.epoch_batches("train", seed=self.seed, start_epoch=start_epoch,
                                         epochs=self.epochs,
                                         batch_fn=lambda ds: self._batches(ds, replicas))

    def steps_per_epoch(self, replicas: int) -> int:
        return max(1, len(self.source.video_ids("train")) // self._per_step(replicas))

    def validation_batches(self, replicas: int):
        if not self.source.video_ids("holdout"):
            return None
        return self._batches(self.source.dataset("holdout"), replicas)

    def distributed_input(self, replicas: int):
        steps = len(self.source.video_ids("train")) // replicas

        def dataset_fn(context):
            def per_epoch(ds):
                # global step s uses videos s*G .. s*G+G-1 of the epoch; replica i the i-th
                ds = ds.take(steps * replicas).shard(context.num_input_pipelines,
                                                     context.input_pipeline_id)
                return pipeline.one_video_per_step(ds, prefetch=False).map(_one_video)
            return self.source.epoch_batches("train", seed=self.seed, start_epoch=0,
                                             epochs=self.epochs, batch_fn=per_epoch)
        return steps, dataset_fn

    def replica_loss(self, model, x, y):
        return model.batch_loss(x["features"], y, training=True)[0]


def train_autoloc(cfg: ExperimentConfig, source: DataSource, cas_run_dir, run_dir, *,
                  seed: int | None = None, epochs: int | None = None, progress: bool = True,
                  cas_model=None, resume: bool = False, strategy=None,
                  videos_per_step: int = 1) -> AutoLocModel:
    """Trains AutoLoc into a self-contained run directory (:class:`AutoLocTask` on
    the runner); the CAS run is copied into ``run_dir/cas``."""
    task = AutoLocTask(cfg, source, cas_run_dir, seed=seed, epochs=epochs, cas_model=cas_model,
                       videos_per_step=videos_per_step)
    return runner.fit(task, run_dir, resume=resume, strategy=strategy, progress=progress)


__all__ = ["AutoLocTask", "bn_batches", "copy_cas_run", "train_autoloc"]
