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

import numpy as np

from wtal_tf import io_utils
from wtal_tf.configs import ExperimentConfig
from wtal_tf.data.detections import Detections
from wtal_tf.data.source import DataSource
from wtal_tf.data.video import seconds_per_snippet
from wtal_tf.models import pseudo_labels as pl
from wtal_tf.training import run_dir as rd
from wtal_tf.training.cas_trainer import WEIGHTS, load_cas_model, train_cas


def holdout_video_loss(outputs) -> float:
    """Mean of -Σ_k (y_k/Σy) log ŷ_k over videos (the paper-form video loss)."""
    losses = []
    for o in outputs.values():
        y = o.labels / max(o.labels.sum(), 1e-12)
        losses.append(-np.sum(y * np.log(np.maximum(o.video_scores, 1e-12))))
    return float(np.mean(losses)) if losses else float("nan")


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
                       *, detections: Detections | None = None) -> pl.PseudoLabels:
    """G^{M_eta} for the training videos (train + holdout)."""
    from wtal_tf.models.inference import cas_outputs

    r = cfg.refine
    ids = source.video_ids("train") + source.video_ids("holdout")
    outputs, lengths = {}, {}
    if model is not None:
        outputs.update(cas_outputs(model, source, "train"))
        outputs.update(cas_outputs(model, source, "holdout"))
    else:
        for split in ("train", "holdout"):
            for e in source.dataset(split):
                lengths[e["video_id"].numpy().decode()] = int(e["num_snippets"])
    return pl.generate(
        r.generator, outputs, video_ids=ids, test_ids=source.video_ids("test"), seed=seed,
        sample_fraction=r.sample_fraction, segment_cfg=cfg.pseudo_segments,
        class_threshold=r.class_threshold, attention_threshold=r.attention_threshold,
        foreground_ratio=r.foreground_ratio, detections=detections,
        stride_of=lambda vid, t: seconds_per_snippet(source.annotation(vid), t),
        lengths=lengths, iteration=eta + 1, form=r.generator_form)


def train_iteration(cfg: ExperimentConfig, source: DataSource, run_dir, eta: int, seed: int,
                    *, progress: bool = False, epochs: int | None = None,
                    resume: bool = False):
    """(Re-)trains iteration ``eta >= 1`` from its stored pseudo labels."""
    pseudo = pl.PseudoLabels.load(_iter_dir(run_dir, eta) / "pseudo_labels")
    return train_cas(cfg, source, _iter_dir(run_dir, eta), seed=seed, progress=progress,
                     pseudo=pseudo, beta=cfg.refine.beta, epochs=epochs,
                     resume=resume), pseudo


def _finished(run_dir, eta) -> bool:
    d = _iter_dir(run_dir, eta)
    return (d / WEIGHTS).exists() and (d / "history.json").exists()


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
    import tensorflow as tf

    from wtal_tf.evaluation import evaluate_detections
    from wtal_tf.models.inference import cas_outputs, outputs_to_detections

    run_dir = Path(run_dir)
    seed = cfg.train.seed if seed is None else seed
    n_iter = cfg.refine.iterations if iterations is None else iterations
    gt = source.ground_truth("test") if evaluate_test else None
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / "refine"))
    results: list[IterationResult] = []
    previous = None
    model = base_model
    if from_detections is None and model is None:
        if resume and _finished(run_dir, 0):
            model = load_iteration(run_dir, 0)
        else:
            model = train_cas(cfg, source, _iter_dir(run_dir, 0), seed=seed,
                              progress=progress, epochs=epochs, resume=resume)
    for eta in range(0, n_iter + 1):
        if eta > 0:
            stored = _iter_dir(run_dir, eta) / "pseudo_labels"
            if resume and stored.with_suffix(".npz").exists():
                pseudo = pl.PseudoLabels.load(stored)
            else:
                pseudo = make_pseudo_labels(cfg, source, model, eta - 1, seed,
                                            detections=from_detections if eta == 1 else None)
                pseudo.save(stored)
            if resume and _finished(run_dir, eta):
                model = load_iteration(run_dir, eta)
            else:
                model, _ = train_iteration(cfg, source, run_dir, eta, seed, progress=progress,
                                           epochs=epochs, resume=resume)
        elif model is None:
            continue  # iteration 0 is the external detector: nothing to train
        res = IterationResult(eta, holdout_video_loss(cas_outputs(model, source, "holdout")))
        if eta > 0:
            res.pseudo_foreground_ratio = pseudo.foreground_ratio()
            if previous is not None:
                res.pseudo_agreement = pseudo.agreement(previous)
            previous = pseudo
        if gt is not None:
            dets = outputs_to_detections(cas_outputs(model, source, "test"), source,
                                         cfg.test_segments)
            r = evaluate_detections(gt, dets, tious=cfg.tious, protocol=cfg.protocol)
            res.test_mAP = [float(m) for m in r.mAP]
            res.test_average_mAP = r.average_mAP
        results.append(res)
        with writer.as_default():
            tf.summary.scalar("holdout_video_loss", res.holdout_video_loss, step=eta)
            if res.pseudo_foreground_ratio is not None:
                tf.summary.scalar("pseudo_foreground_ratio", res.pseudo_foreground_ratio,
                                  step=eta)
            if res.pseudo_agreement is not None:
                tf.summary.scalar("pseudo_agreement_with_previous", res.pseudo_agreement,
                                  step=eta)
            if res.test_average_mAP is not None:
                tf.summary.scalar("test_average_mAP (reporting only)", res.test_average_mAP,
                                  step=eta)
        writer.flush()
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
    rd.write_run(run_dir, cfg.replace(method="refineloc"), source.to_dict(), seed=seed,
                 selected_iteration=eta)
    with io_utils.atomic_path(Path(run_dir) / WEIGHTS, suffix=".weights.h5") as tmp:
        shutil.copy2(src / WEIGHTS, tmp)


def load_iteration(run_dir, eta):
    return load_cas_model(_iter_dir(run_dir, eta))[0]


def read_refine(run_dir) -> dict:
    return json.loads((Path(run_dir) / "refine.json").read_text())
