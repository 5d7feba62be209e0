"""The CAS model's task (RefineLoc §4.2): video labels, plus pseudo labels from iteration 1."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from wtal_tf.configs import ExperimentConfig
from wtal_tf.data import pipeline
from wtal_tf.data.source import DataSource
from wtal_tf.data.video import seconds_per_snippet, segments_to_mask
from wtal_tf.models.cas_model import CasModel, build_cas_model
from wtal_tf.training import callbacks as callback_lib
from wtal_tf.training import runner
from wtal_tf.training.task import Task

#: Batches are drawn from length-sorted windows of this many batches, then
#: shuffled: little padding (a few %), still a random order of batches.
SORT_WINDOW_BATCHES = 32


def snippet_label_extras(source: DataSource):
    """Per-snippet ground-truth classes (``0..K``, K = background) as pipeline extras.

    Temporal annotations: only the fully supervised reference reads them.
    Where instances of two classes overlap, the later-listed one labels the
    snippet (THUMOS'14 has a few such overlaps).
    """
    background = len(source.classes)

    def labels(video_id):
        annotation = source.annotation(video_id)
        t_len = source.num_snippets(video_id)
        per_class = segments_to_mask(annotation.segments, t_len,
                                     seconds_per_snippet(annotation, t_len), source.classes)
        out = np.full(t_len, background, np.float32)
        for k in range(len(source.classes)):
            out[per_class[:, k]] = k
        return out

    return {"snippet_labels": labels}, {"snippet_labels": tf.TensorSpec([None], tf.float32)}


def model_inputs(element):
    """A pipeline element -> ``(x, y)`` for the CAS model (pseudo labels and snippet
    labels passed on when the element has them; pseudo weights zero on padding)."""
    x = {"features": element["features"], "mask": element["mask"]}
    if "pseudo_labels" in element:
        x["pseudo_labels"] = element["pseudo_labels"]
        x["pseudo_weights"] = element["pseudo_weights"] * element["mask"]
    if "snippet_labels" in element:
        x["snippet_labels"] = element["snippet_labels"]
    return x, element["labels"]


class CasTask(Task):
    """Trains a CAS model (the supervised reference for ``method="supervised"``).

    Args:
        cfg, source: the experiment config and the data.
        seed: overrides ``cfg.train.seed``.
        epochs: overrides ``cfg.train.epochs``.
        pseudo: RefineLoc pseudo labels
            (:class:`wtal_tf.training.pseudo_labels.PseudoLabels`) for
            iterations >= 1, else ``None``.
        beta: weight of the pseudo-label loss (RefineLoc eq. 4).
    """

    def __init__(self, cfg: ExperimentConfig, source: DataSource, *, seed: int | None = None,
                 epochs: int | None = None, pseudo=None, beta: float = 0.0):
        super().__init__(cfg, source, seed=cfg.train.seed if seed is None else seed,
                         epochs=cfg.train.epochs if epochs is None else epochs)
        self.beta = beta
        self.extras = self.extra_specs = None
        self.pseudo_bg_fraction = None
        if pseudo is not None:
            self.extras, self.extra_specs = pseudo.as_extras()
            # over all training pseudo labels
            self.pseudo_bg_fraction = 1.0 - pseudo.foreground_ratio()
        elif cfg.method == "supervised":
            self.extras, self.extra_specs = snippet_label_extras(source)
        self.num_train = len(source.video_ids("train"))

    def run_info(self) -> dict:
        return {"beta": self.beta}

    def build_model(self, replicas: int) -> CasModel:
        return build_cas_model(self.cfg, len(self.source.classes), self.source.feature_dim,
                               self.beta, self.pseudo_bg_fraction)

    def optimizer(self):
        return keras.optimizers.Adam(self.cfg.train.learning_rate)

    # Under a mirrored strategy every replica must get an equal share of each
    # batch: training drops the last partial batch, validation runs one video
    # per replica (at most replicas - 1 holdout videos are left out).
    def batch_size(self, replicas: int) -> int:
        batch = self.cfg.train.batch_size
        if replicas > 1:
            batch = max(replicas, min(batch, self.num_train) // replicas * replicas)
        return batch

    def _batches(self, dataset, size: int, replicas: int):
        return pipeline.padded_batches(dataset, size, drop_remainder=replicas > 1,
                                       prefetch=False).map(model_inputs)

    def train_batches(self, start_epoch: int, replicas: int):
        batch = self.batch_size(replicas)
        return self.source.epoch_batches(
            "train", seed=self.seed, start_epoch=start_epoch, epochs=self.epochs,
            batch_fn=lambda ds: self._batches(ds, batch, replicas), extras=self.extras,
            extra_specs=self.extra_specs, length_window=SORT_WINDOW_BATCHES * batch,
            batch_size=batch)

    def steps_per_epoch(self, replicas: int) -> int:
        batch = self.batch_size(replicas)
        return max(1, math.ceil(self.num_train / batch) if replicas == 1
                   else self.num_train // batch)

    def validation_batches(self, replicas: int):
        if not len(self.source.video_ids("holdout")) >= replicas > 0:
            return None
        holdout = self.source.dataset("holdout", extras=self.extras,
                                      extra_specs=self.extra_specs)
        return self._batches(holdout, self.batch_size(replicas) if replicas == 1 else replicas,
                             replicas)

    def callbacks(self, run_dir: Path, validation):
        monitor = "val_loss" if validation is not None else "loss"
        plateau = keras.callbacks.ReduceLROnPlateau(monitor=monitor,
                                                    factor=self.cfg.train.lr_decay,
                                                    patience=self.cfg.train.lr_patience,
                                                    verbose=0)
        if validation is None:
            return [plateau]
        sample = list(self.source.dataset("holdout").take(3))
        return [callback_lib.HoldoutVideoMap(validation), plateau,
                callback_lib.CasImages(sample, run_dir / "tensorboard", every=10)]

    def distributed_input(self, replicas: int):
        per_replica = max(1, min(self.cfg.train.batch_size, self.num_train) // replicas)
        steps = max(1, self.num_train // (per_replica * replicas))

        def dataset_fn(context):
            def per_epoch(ds):
                ds = ds.take(steps * per_replica * replicas).shard(
                    context.num_input_pipelines, context.input_pipeline_id)
                return pipeline.padded_batches(ds, per_replica, drop_remainder=True,
                                               prefetch=False).map(model_inputs)
            return self.source.epoch_batches("train", seed=self.seed, start_epoch=0,
                                             epochs=self.epochs, batch_fn=per_epoch,
                                             extras=self.extras, extra_specs=self.extra_specs)
        return steps, dataset_fn

    def replica_loss(self, model, x, y):
        return model.compute_loss(x, y, model(x, training=True))


def train_cas(cfg: ExperimentConfig, source: DataSource, run_dir, *, seed: int | None = None,
              progress: bool = True, pseudo=None, beta: float = 0.0,
              epochs: int | None = None, resume: bool = False, strategy=None) -> CasModel:
    """Trains one CAS model into ``run_dir`` (:class:`CasTask` on the runner)."""
    task = CasTask(cfg, source, seed=seed, epochs=epochs, pseudo=pseudo, beta=beta)
    return runner.fit(task, run_dir, resume=resume, strategy=strategy, progress=progress)


__all__ = ["CasTask", "model_inputs", "snippet_label_extras", "train_cas"]
