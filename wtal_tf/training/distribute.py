"""Scaling out on TensorFlow's own engine: ``--strategy default|mirrored|multiworker``.

* ``mirrored``: ``tf.distribute.MirroredStrategy`` over the local GPUs, or over
  ``replicas`` logical CPU devices when there is no GPU; trainers use ``fit``.
* ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy`` configured by
  ``TF_CONFIG``; Keras 3's ``fit`` fails under it (keras-team/keras#20585), so
  trainers run :func:`custom_loop` (``strategy.run`` on distributed datasets).

Each replica trains on its own videos of every global step; AutoLoc's
BatchNorm is synchronized across replicas, so a distributed run with G
replicas follows the single-process run with G videos per step.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import tensorflow as tf

from wtal_tf.errors import WtalError
from wtal_tf.ops.gradients import zeros_for_missing

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str = "default", replicas: int = 2) -> tf.distribute.Strategy:
    """Creates the strategy; call it before any other TensorFlow work."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
        except RuntimeError:
            pass  # already initialised: use the logical devices that exist
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:replicas]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise WtalError("--strategy multiworker needs TF_CONFIG (cluster and task); "
                            "see README 'Several machines'")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise WtalError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not os.environ.get("TF_CONFIG"):
        return True
    task = json.loads(os.environ["TF_CONFIG"]).get("task", {})
    return task.get("type", "worker") in ("chief", "worker") and int(task.get("index", 0)) == 0


def custom_loop(strategy, variables, optimizer, loss_fn, dataset_fn, *, epochs: int,
                steps_per_epoch: int, progress: bool = True) -> dict:
    """Trains with ``strategy.run``: per-replica loss scaled by 1 / replicas, the
    optimizer all-reduces (sums) the gradients.

    Args:
        loss_fn: ``(x, y) -> scalar loss`` of one replica's batch.
        dataset_fn: ``tf.distribute.InputContext -> tf.data.Dataset`` of every
            epoch's per-replica batches, in order.
    """
    dist = strategy.distribute_datasets_from_function(dataset_fn)
    iterator = iter(dist)
    replicas = strategy.num_replicas_in_sync

    @tf.function
    def train_step(it):
        def step_fn(inputs):
            x, y = inputs
            with tf.GradientTape() as tape:
                loss = loss_fn(x, y)
                scaled = loss / replicas
            grads = tape.gradient(scaled, variables)
            optimizer.apply(zeros_for_missing(grads, variables), variables)
            return loss

        per_replica = strategy.run(step_fn, args=(next(it),))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    history = {"loss": []}
    for epoch in range(epochs):
        losses = [float(train_step(iterator)) for _ in range(steps_per_epoch)]
        history["loss"].append(float(np.mean(losses)) if losses else float("nan"))
        if progress:
            print(f"Epoch {epoch + 1}/{epochs} - {steps_per_epoch} steps - "
                  f"loss: {history['loss'][-1]:.4f}", file=sys.stdout, flush=True)
    return history
