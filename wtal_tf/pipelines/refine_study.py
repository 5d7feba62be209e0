"""``wtal ablate refineloc``: RefineLoc's Table 2 (mAP per iteration), Table 1
(generator x beta) and the generalisation to AutoLoc (§4.4), over seeds.

Test mAP is computed for reporting only; every choice inside a run (best
epoch, pseudo labels) uses training videos and the holdout.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from wtal_tf import io_utils
from wtal_tf.configs import ExperimentConfig
from wtal_tf.data.detections import Detections
from wtal_tf.data.source import DataSource
from wtal_tf.data.video import seconds_per_snippet, segments_to_mask
from wtal_tf.evaluation import evaluate_detections
from wtal_tf.inference.autoloc import autoloc_detections
from wtal_tf.pipelines.reporting import MapRow, SeedTable
from wtal_tf.training.autoloc_task import train_autoloc
from wtal_tf.training.cas_task import train_cas
from wtal_tf.training.refineloc import refine


def true_foreground_ratio(source: DataSource) -> float:
    """The distribution-aware generator's input: uses temporal annotations of
    the training videos (so that generator is not weakly supervised)."""
    fg = total = 0
    for vid in source.video_ids("train"):
        a = source.annotation(vid)
        t = int(round(a.duration / seconds_per_snippet(a, 1))) if a.duration else 100
        t = max(t, 1)
        m = segments_to_mask(a.segments, t, seconds_per_snippet(a, t))
        fg += int(m.sum())
        total += t
    return fg / max(total, 1)


def run_refine_study(cfg: ExperimentConfig, source: DataSource, out, *, seeds=(0, 1, 2),
                     iterations: int | None = None, generators=None, betas=(),
                     grid_iterations: int = 1, with_autoloc: bool = False,
                     progress: bool = False) -> dict:
    """RefineLoc per iteration, optionally its generator x beta grid and its
    refinement of AutoLoc, over ``seeds``; tables written under ``out``."""
    out = Path(out)
    n_iter = cfg.refine.iterations if iterations is None else iterations
    per_iter = SeedTable(cfg.tious)
    grid: dict[tuple[str, float], list[float]] = {}
    generators = list(generators or [])
    gen_autoloc = SeedTable(cfg.tious)
    for seed in seeds:
        seed_dir = out / f"seed_{seed}"
        base = train_cas(cfg.replace(method="cas"), source, seed_dir / "iter0", seed=seed,
                         progress=progress)
        results = refine(cfg, source, seed_dir / "refine", seed=seed, iterations=n_iter,
                         progress=progress, base_model=base)
        for result in results:
            per_iter.add(f"iteration {result.iteration}", MapRow(result.test_mAP))
        print(f"  seed {seed}: " + "  ".join(
            f"it{result.iteration} {100 * result.test_average_mAP:.1f}" for result in results),
            flush=True)
        _grid_for_seed(cfg, source, seed_dir, seed, base, grid, generators, betas,
                       grid_iterations, progress)
        if with_autoloc:
            _autoloc_for_seed(cfg, source, seed_dir, seed, base, gen_autoloc, n_iter, progress)
    return _write_report(cfg, source, out, seeds, per_iter, grid, generators, betas,
                         grid_iterations, gen_autoloc if with_autoloc else None)


def _grid_for_seed(cfg, source, seed_dir, seed, base, grid, generators, betas,
                   grid_iterations, progress) -> None:
    """Table 1: every generator x beta, refined from the seed's base model."""
    for generator in generators:
        for beta in betas:
            extra = {}
            if generator == "distribution_aware":
                extra["foreground_ratio"] = true_foreground_ratio(source)
            grid_cfg = cfg.replace(refine=dataclasses.replace(cfg.refine, generator=generator,
                                                              beta=beta, **extra))
            results = refine(grid_cfg, source, seed_dir / f"grid_{generator}_b{beta:g}",
                             seed=seed, iterations=grid_iterations, progress=progress,
                             base_model=base)
            grid.setdefault((generator, beta), []).append(100 * results[-1].test_average_mAP)
            print(f"  seed {seed}: {generator} beta={beta:g} -> "
                  f"{grid[(generator, beta)][-1]:.1f}", flush=True)


def _autoloc_for_seed(cfg, source, seed_dir, seed, base, table, n_iter, progress) -> None:
    """§4.4: AutoLoc on the seed's base model, then RefineLoc started from its detections."""
    autoloc = train_autoloc(cfg.replace(method="autoloc"), source, seed_dir / "iter0",
                            seed_dir / "autoloc", seed=seed, progress=progress, cas_model=base)
    evaluation = evaluate_detections(source.ground_truth("test"),
                                     autoloc_detections(autoloc, source, "test"),
                                     tious=cfg.tious, protocol=cfg.protocol)
    table.add("AutoLoc", evaluation)
    training_detections = Detections.concatenate(
        [autoloc_detections(autoloc, source, "train"),
         autoloc_detections(autoloc, source, "holdout")])
    results = refine(cfg, source, seed_dir / "refine_autoloc", seed=seed, iterations=n_iter,
                     progress=progress, from_detections=training_detections)
    table.add(f"RefineLoc ∘ AutoLoc (iteration {n_iter})", MapRow(results[-1].test_mAP))
    print(f"  seed {seed}: AutoLoc {100 * evaluation.average_mAP:.1f} -> RefineLoc∘AutoLoc "
          f"{100 * results[-1].test_average_mAP:.1f}", flush=True)


def _write_report(cfg, source, out, seeds, per_iter, grid, generators, betas,
                  grid_iterations, gen_autoloc) -> dict:
    title = (f"RefineLoc per iteration ({cfg.refine.generator}, beta={cfg.refine.beta:g}, "
             f"S={cfg.refine.sample_fraction:g}) on {source.description}, {len(seeds)} seeds")
    per_iter.save(out / "refine_iterations", title)
    report = {"iterations": per_iter.to_dict()}
    if grid:
        report["grid"] = {f"{g}|{b:g}": v for (g, b), v in grid.items()}
        io_utils.write_text(out / "refine_grid.md", grid_markdown(grid, generators, betas,
                                                                 grid_iterations) + "\n")
    if gen_autoloc is not None:
        gen_autoloc.save(out / "refine_autoloc", f"RefineLoc ∘ AutoLoc on {source.description}")
        report["autoloc"] = gen_autoloc.to_dict()
    io_utils.write_json(out / "refine_study.json", report, indent=1)
    report["tables"] = (per_iter, grid, gen_autoloc if gen_autoloc is not None
                        else SeedTable(cfg.tious))
    return report


def grid_markdown(grid, generators, betas, grid_iterations) -> str:
    lines = [f"**Average mAP (%) after {grid_iterations} refinement iteration(s), "
             "mean ± sd over seeds**", "",
             "| generator | " + " | ".join(f"β={b:g}" for b in betas) + " |",
             "|---|" + "---|" * len(betas)]
    for g in generators:
        cells = []
        for b in betas:
            v = np.asarray(grid[(g, b)])
            sd = v.std(ddof=1) if len(v) > 1 else 0.0
            cells.append(f"{v.mean():.1f} ± {sd:.1f}")
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pseudo_label_quality(source: DataSource, pseudo) -> dict:
    """Agreement of pseudo labels with the training videos' true snippet labels.

    Analysis only (it reads temporal annotations, which weak supervision does not
    have): it explains refinement results and selects nothing.
    """
    tp = fp = fn = tn = 0
    for vid, lab in pseudo.labels.items():
        a = source.annotation(vid)
        t = len(lab)
        truth = segments_to_mask(a.segments, t, seconds_per_snippet(a, t))
        lab = lab.astype(bool)
        tp += int(np.sum(lab & truth))
        fp += int(np.sum(lab & ~truth))
        fn += int(np.sum(~lab & truth))
        tn += int(np.sum(~lab & ~truth))
    total = max(tp + fp + fn + tn, 1)
    return {"pseudo_foreground_ratio": (tp + fp) / total, "true_foreground_ratio": (tp + fn) / total,
            "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1),
            "accuracy": (tp + tn) / total}
