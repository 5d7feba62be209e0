"""What one method trains, for the runner (``wtal_tf.training.runner``) to run.

A task builds the model and its optimizer, its datasets, its own callbacks
and, for the multi-worker loop, its per-replica input and loss.  The runner
owns what every method shares: seeding, the run directory, checkpoints and
resume, the strategy, model selection, TensorBoard (tensorflow/models'
``Task`` / ``train_lib`` split).
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from wtal_tf.configs import ExperimentConfig
from wtal_tf.data.source import DataSource


class Task:
    """The base task: subclasses fill in the model, the data and the loss.

    Args:
        cfg: the experiment config.
        source: the data.
        seed: the run's seed (data order, initialisation).
        epochs: epochs to train.
    """

    #: TensorBoard's ``update_freq`` (``"epoch"`` or a number of steps).
    tensorboard_update_freq: str | int = "epoch"

    def __init__(self, cfg: ExperimentConfig, source: DataSource, *, seed: int, epochs: int):
        self.cfg = cfg
        self.source = source
        self.seed = int(seed)
        self.epochs = int(epochs)

    # -- run directory ------------------------------------------------------------
    def run_info(self) -> dict:
        """Extra fields of ``run.json`` (besides config, data, seed and epochs)."""
        return {}

    def write_artifacts(self, run_dir: Path) -> None:
        """Files the run directory needs besides the weights (once, at the start)."""

    # -- model --------------------------------------------------------------------
    def setup(self, strategy: tf.distribute.Strategy | None) -> None:
        """Loads what the model is built from; ``strategy`` when replicated."""

    def build_model(self, replicas: int) -> keras.Model:
        raise NotImplementedError

    def optimizer(self) -> keras.optimizers.Optimizer:
        raise NotImplementedError

    def trained_variables(self, model: keras.Model) -> list:
        return model.trainable_variables

    def finish(self, model: keras.Model) -> None:
        """After training, before the weights are saved."""

    # -- data (``fit``) -----------------------------------------------------------
    def train_batches(self, start_epoch: int, replicas: int) -> tf.data.Dataset:
        """Every epoch's batches from ``start_epoch`` on, in order."""
        raise NotImplementedError

    def steps_per_epoch(self, replicas: int) -> int:
        raise NotImplementedError

    def validation_batches(self, replicas: int) -> tf.data.Dataset | None:
        """The holdout's batches (model selection), or ``None`` without a holdout."""
        return None

    def callbacks(self, run_dir: Path, validation) -> list[keras.callbacks.Callback]:
        """The task's own callbacks (metrics, schedules, images)."""
        return []

    # -- data and loss (the multi-worker custom loop) -------------------------------
    def distributed_input(self, replicas: int):
        """``(steps_per_epoch, dataset_fn)``: ``dataset_fn(input_context)`` gives
        every epoch's per-replica batches, in order."""
        raise NotImplementedError

    def replica_loss(self, model: keras.Model, x, y) -> tf.Tensor:
        """The loss of one replica's batch (a scalar)."""
        raise NotImplementedError
