"""One training skeleton for every method: ``fit(task, run_dir, ...)``.

The runner owns what all methods share -- seeding, the run directory,
checkpoints and ``--resume`` (:mod:`~wtal_tf.training.checkpointing`), the
strategy, model selection by the holdout loss, TensorBoard, the saved
weights and history -- and a :class:`~wtal_tf.training.task.Task` supplies
the rest.  Under ``MultiWorkerMirroredStrategy`` Keras 3's ``fit`` fails
(keras-team/keras#20585), so the same task runs in
:func:`~wtal_tf.training.distribute.custom_loop` instead.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from wtal_tf import io_utils, runs
from wtal_tf.training import checkpointing, distribute
from wtal_tf.training.task import Task


def keras_verbosity(progress: bool) -> int:
    """A progress bar on a terminal, one line per epoch in logs."""
    if not progress:
        return 0
    return 1 if sys.stdout.isatty() else 2


def fit(task: Task, run_dir, *, resume: bool = False, strategy=None,
        progress: bool = True) -> keras.Model:
    """Trains ``task`` into ``run_dir``; returns the model with the selected weights.

    Args:
        task: the method's task.
        run_dir: where to write (``wtal_tf.runs``).
        resume: continue from ``run_dir/checkpoint`` (a killed run) if present.
        strategy: a ``tf.distribute`` strategy: mirrored trains with ``fit``
            (each batch split over the replicas), multi-worker with a custom loop.
        progress: Keras' progress output.
    """
    run_dir = Path(run_dir)
    keras.utils.set_random_seed(task.seed)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    task.setup(strategy if multiworker or replicas > 1 else None)
    if multiworker:
        return _fit_custom_loop(task, run_dir, strategy, progress)
    directory = run_dir / checkpointing.CHECKPOINT
    saved = checkpointing.saved_progress(directory) if resume else None
    if saved is None:
        _start_run(task, run_dir)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = task.build_model(replicas)
        model.compile(optimizer=task.optimizer())
        model.optimizer.build(task.trained_variables(model))
    validation = task.validation_batches(replicas)
    monitor = "val_loss" if validation is not None else "loss"
    # the epoch with the lowest holdout loss; patience = epochs: it never stops early
    selection = keras.callbacks.EarlyStopping(monitor, patience=task.epochs, mode="min",
                                              restore_best_weights=True)
    callbacks = [*task.callbacks(run_dir, validation), selection,
                 keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"),
                                             write_graph=False,
                                             update_freq=task.tensorboard_update_freq)]
    checkpoint = checkpointing.EpochCheckpoint(directory, model, callbacks, saved)
    start_epoch = checkpoint.restore() if saved else 0
    start = time.perf_counter()
    model.fit(task.train_batches(start_epoch, replicas), validation_data=validation,
              epochs=task.epochs, initial_epoch=start_epoch,
              steps_per_epoch=task.steps_per_epoch(replicas), callbacks=[*callbacks, checkpoint],
              shuffle=False,  # the data order is a function of (seed, epoch)
              verbose=keras_verbosity(progress))
    elapsed = time.perf_counter() - start
    task.finish(model)
    _save(model, run_dir, checkpoint.history, train_seconds=elapsed,
          best_epoch=selection.best_epoch + 1, selected_by=monitor,
          resumed_from_epoch=start_epoch if saved else None)
    return model


def _start_run(task: Task, run_dir: Path) -> None:
    shutil.rmtree(run_dir / checkpointing.CHECKPOINT, ignore_errors=True)
    runs.write_run(run_dir, task.cfg, task.source.to_dict(), seed=task.seed,
                   epochs=task.epochs, **task.run_info())
    task.write_artifacts(run_dir)


def _save(model, run_dir: Path, history: dict, **run_fields) -> None:
    runs.save_weights(model, run_dir / runs.WEIGHTS)
    io_utils.write_json(run_dir / "history.json", history, indent=1)
    runs.update_run(run_dir, **run_fields)


def _fit_custom_loop(task: Task, run_dir: Path, strategy, progress: bool) -> keras.Model:
    """The task on ``MultiWorkerMirroredStrategy``: every replica takes its share of
    each global step's videos; the last epoch's weights are kept."""
    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        model = task.build_model(replicas)
        optimizer = task.optimizer()
        variables = task.trained_variables(model)
        optimizer.build(variables)
    _start_run(task, run_dir)
    steps, dataset_fn = task.distributed_input(replicas)
    start = time.perf_counter()
    history = distribute.custom_loop(strategy, variables, optimizer,
                                     lambda x, y: task.replica_loss(model, x, y), dataset_fn,
                                     epochs=task.epochs, steps_per_epoch=steps,
                                     progress=progress)
    elapsed = time.perf_counter() - start
    task.finish(model)
    _save(model, run_dir, history, train_seconds=elapsed, strategy="multiworker",
          replicas=replicas, chief=distribute.is_chief(strategy), selected_by="last epoch")
    return model
