"""RefineLoc's iterative refinement (§3.2): a loop of Keras fits with regenerated pseudo labels.

Iteration 0 is the base CAS model trained on video labels (or, with
``from_detections``, another detector's output).  Iteration η + 1 trains a
freshly initialised model on eq. 4: the video loss + β · class-weighted
cross-entropy between the bg/fg attention and the pseudo labels G^{M_η}, on a
random fraction S of snippets drawn at the start of the iteration.

Run directory::

    RUN_DIR/iter_0/              the base model (a CAS run directory)
    RUN_DIR/iter_1/pseudo_labels.npz/.json   G^{M_0}, keyed by video id
    RUN_DIR/iter_1/              M_1, trained on them ... and so on
    RUN_DIR/refine.json          per-iteration holdout and test metrics
    RUN_DIR/model.weights.h5     the selected iteration's weights (+ run.json ...)

Model selection never reads the test split: the best epoch of each
iteration is chosen by its holdout loss, the number of iterations is fixed by
the config (RefineLoc Table 2: 3) or -- ``iteration_selection="holdout"`` --
chosen as the iteration with the lowest *video-label* loss on the holdout
(the weakly supervised part of eq. 4, comparable across iterations).  Test
mAP per iteration is computed afterwards, for reporting only.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import tensorflow as tf

from wtal_tf import io_utils, runs
from wtal_tf.configs import ExperimentConfig
from wtal_tf.data.detections import Detections
from wtal_tf.data.source import DataSource
from wtal_tf.data.video import seconds_per_snippet
from wtal_tf.evaluation import evaluate_detections
from wtal_tf.inference.cas import cas_outputs, mean_video_loss, outputs_to_detections
from wtal_tf.inference.loading import load_cas_model
from wtal_tf.training import pseudo_labels
from wtal_tf.training.cas_task import train_cas


@dataclasses.dataclass
class IterationResult:
    iteration: int
    holdout_video_loss: float
    pseudo_foreground_ratio: float | None = None
    pseudo_agreement: float | None = None
    test_mAP: list | None = None
    test_average_mAP: float | None = None


def _iter_dir(run_dir, eta):
    return Path(run_dir) / f"iter_{eta}"


def make_pseudo_labels(cfg: ExperimentConfig, source: DataSource, model, eta: int, seed: int,
                       *, detections: Detections | None = None) -> pseudo_labels.PseudoLabels:
    """G^{M_eta} for the training videos (train + holdout)."""
    settings = cfg.refine
    ids = source.video_ids("train") + source.video_ids("holdout")
    outputs, lengths = {}, {}
    if model is not None:
        outputs.update(cas_outputs(model, source, "train"))
        outputs.update(cas_outputs(model, source, "holdout"))
    else:
        for split in ("train", "holdout"):
            for e in source.dataset(split):
                lengths[e["video_id"].numpy().decode()] = int(e["num_snippets"])
    return pseudo_labels.generate(
        settings.generator, outputs, video_ids=ids, test_ids=source.video_ids("test"),
        seed=seed, sample_fraction=settings.sample_fraction, segment_cfg=cfg.pseudo_segments,
        class_threshold=settings.class_threshold,
        attention_threshold=settings.attention_threshold,
        foreground_ratio=settings.foreground_ratio, detections=detections,
        stride_of=lambda vid, t: seconds_per_snippet(source.annotation(vid), t),
        lengths=lengths, iteration=eta + 1, form=settings.generator_form)


def train_iteration(cfg: ExperimentConfig, source: DataSource, run_dir, eta: int, seed: int,
                    *, progress: bool = False, epochs: int | None = None,
                    resume: bool = False):
    """(Re-)trains iteration ``eta >= 1`` from its stored pseudo labels (the same
    CAS task and runner as iteration 0, with eq. 4's pseudo-label term)."""
    pseudo = pseudo_labels.PseudoLabels.load(_iter_dir(run_dir, eta) / "pseudo_labels")
    return train_cas(cfg, source, _iter_dir(run_dir, eta), seed=seed, progress=progress,
                     pseudo=pseudo, beta=cfg.refine.beta, epochs=epochs,
                     resume=resume), pseudo


def _finished(run_dir, eta) -> bool:
    d = _iter_dir(run_dir, eta)
    return (d / runs.WEIGHTS).exists() and (d / "history.json").exists()


def _pseudo_labels_for(cfg, source, run_dir, model, eta, seed, *, resume, from_detections):
    """G^{M_{eta-1}}: the stored ones when resuming, else generated and stored."""
    stored = _iter_dir(run_dir, eta) / "pseudo_labels"
    if resume and stored.with_suffix(".npz").exists():
        return pseudo_labels.PseudoLabels.load(stored)
    pseudo = make_pseudo_labels(cfg, source, model, eta - 1, seed,
                                detections=from_detections if eta == 1 else None)
    pseudo.save(stored)
    return pseudo


def _evaluate_iteration(cfg, source, model, eta, gt, pseudo, previous) -> IterationResult:
    """Holdout video-label loss (selection), pseudo-label statistics and, for
    reporting only, test mAP."""
    result = IterationResult(eta, mean_video_loss(cas_outputs(model, source, "holdout")))
    if pseudo is not None:
        result.pseudo_foreground_ratio = pseudo.foreground_ratio()
        if previous is not None:
            result.pseudo_agreement = pseudo.agreement(previous)
    if gt is not None:
        detections = outputs_to_detections(cas_outputs(model, source, "test"), source,
                                           cfg.test_segments)
        evaluation = evaluate_detections(gt, detections, tious=cfg.tious,
                                         protocol=cfg.protocol)
        result.test_mAP = [float(m) for m in evaluation.mAP]
        result.test_average_mAP = evaluation.average_mAP
    return result


def _log_iteration(writer, result: IterationResult) -> None:
    scalars = {"holdout_video_loss": result.holdout_video_loss,
               "pseudo_foreground_ratio": result.pseudo_foreground_ratio,
               "pseudo_agreement_with_previous": result.pseudo_agreement,
               "test_average_mAP (reporting only)": result.test_average_mAP}
    with writer.as_default():
        for name, value in scalars.items():
            if value is not None:
                tf.summary.scalar(name, value, step=result.iteration)
    writer.flush()


def refine(cfg: ExperimentConfig, source: DataSource, run_dir, *, seed: int | None = None,
           iterations: int | None = None, from_detections: Detections | None = None,
           progress: bool = False, evaluate_test: bool = True,
           epochs: int | None = None, base_model=None,
           resume: bool = False) -> list[IterationResult]:
    """Runs the refinement loop; returns per-iteration metrics (also in refine.json).

    ``base_model``: an already trained iteration-0 model to start from (saves
    retraining it when several refinements share one base, as in the grid).
    ``resume``: reuse finished iterations and continue a killed one.
    """
    run_dir = Path(run_dir)
    seed = cfg.train.seed if seed is None else seed
    n_iter = cfg.refine.iterations if iterations is None else iterations
    gt = source.ground_truth("test") if evaluate_test else None
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / "refine"))
    results: list[IterationResult] = []
    pseudo = previous = None
    model = base_model
    if from_detections is None and model is None:
        model = _train_or_load(cfg, source, run_dir, 0, seed, progress=progress,
                               epochs=epochs, resume=resume)
    for eta in range(0, n_iter + 1):
        if eta > 0:
            previous = pseudo
            pseudo = _pseudo_labels_for(cfg, source, run_dir, model, eta, seed, resume=resume,
                                        from_detections=from_detections)
            model = _train_or_load(cfg, source, run_dir, eta, seed, progress=progress,
                                   epochs=epochs, resume=resume)
        elif model is None:
            continue  # iteration 0 is the external detector: nothing to train
        results.append(_evaluate_iteration(cfg, source, model, eta, gt, pseudo, previous))
        _log_iteration(writer, results[-1])
        if stop_early(cfg.refine.early_stopping, results):
            break
    selected = select_iteration(cfg, results)
    _publish(cfg, source, run_dir, selected, seed)
    io_utils.write_json(run_dir / "refine.json", {
        "iterations": [dataclasses.asdict(r) for r in results],
        "selected_iteration": selected,
        "selection": cfg.refine.iteration_selection,
        "generator": cfg.refine.generator, "beta": cfg.refine.beta,
        "sample_fraction": cfg.refine.sample_fraction,
        "from_detections": from_detections is not None}, indent=1)
    return results


def _train_or_load(cfg, source, run_dir, eta, seed, *, progress, epochs, resume):
    """Iteration ``eta``'s model: a finished one is loaded when resuming."""
    if resume and _finished(run_dir, eta):
        return load_iteration(run_dir, eta)
    if eta == 0:
        return train_cas(cfg, source, _iter_dir(run_dir, 0), seed=seed, progress=progress,
                         epochs=epochs, resume=resume)
    return train_iteration(cfg, source, run_dir, eta, seed, progress=progress, epochs=epochs,
                           resume=resume)[0]


def stop_early(patience: int, results: list[IterationResult]) -> bool:
    """True once the last ``patience`` iterations have not lowered the holdout
    video-label loss below the best before them (0 = never stop early)."""
    if patience <= 0 or len(results) <= patience:
        return False
    best_before = min(r.holdout_video_loss for r in results[:-patience])
    return all(r.holdout_video_loss >= best_before for r in results[-patience:])


def select_iteration(cfg: ExperimentConfig, results: list[IterationResult]) -> int:
    if cfg.refine.iteration_selection == "fixed":
        return results[-1].iteration
    if cfg.refine.iteration_selection == "holdout":
        return min(results, key=lambda r: r.holdout_video_loss).iteration
    raise ValueError(f"unknown iteration_selection {cfg.refine.iteration_selection!r}")


def _publish(cfg, source, run_dir, eta, seed):
    """Makes RUN_DIR itself a run of the selected iteration (for predict/export)."""
    src = _iter_dir(run_dir, eta)
    runs.write_run(run_dir, cfg.replace(method="refineloc"), source.to_dict(), seed=seed,
                 selected_iteration=eta)
    with io_utils.atomic_path(Path(run_dir) / runs.WEIGHTS, suffix=".weights.h5") as tmp:
        shutil.copy2(src / runs.WEIGHTS, tmp)


def load_iteration(run_dir, eta):
    return load_cas_model(_iter_dir(run_dir, eta))[0]


def read_refine(run_dir) -> dict:
    return json.loads((Path(run_dir) / "refine.json").read_text())
