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
from wtal_tf.data.source import DataSource
from wtal_tf.data.video import seconds_per_snippet, segments_to_mask
from wtal_tf.pipelines.reporting import SeedTable


class _Result:
    """Adapter: a list of mAPs as a DetectionResult-like object for SeedTable."""

    def __init__(self, maps):
        self.mAP = np.asarray(maps)
        self.average_mAP = float(np.mean(maps))


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
    from wtal_tf.evaluation import evaluate_detections
    from wtal_tf.models.refineloc import refine
    from wtal_tf.training.autoloc_trainer import autoloc_detections, train_autoloc
    from wtal_tf.training.cas_trainer import train_cas

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
        for r in results:
            per_iter.add(f"iteration {r.iteration}", _Result(r.test_mAP))
        print(f"  seed {seed}: " + "  ".join(
            f"it{r.iteration} {100 * r.test_average_mAP:.1f}" for r in results), flush=True)
        for gen in generators:
            for beta in betas:
                extra = {}
                if gen == "distribution_aware":
                    extra["foreground_ratio"] = true_foreground_ratio(source)
                c = cfg.replace(refine=dataclasses.replace(cfg.refine, generator=gen, beta=beta,
                                                           **extra))
                rs = refine(c, source, seed_dir / f"grid_{gen}_b{beta:g}", seed=seed,
                            iterations=grid_iterations, progress=progress, base_model=base)
                grid.setdefault((gen, beta), []).append(100 * rs[-1].test_average_mAP)
                print(f"  seed {seed}: {gen} beta={beta:g} -> {grid[(gen, beta)][-1]:.1f}",
                      flush=True)
        if with_autoloc:
            al_cfg = cfg.replace(method="autoloc")
            al = train_autoloc(al_cfg, source, seed_dir / "iter0", seed_dir / "autoloc",
                               seed=seed, progress=progress, cas_model=base)
            gt = source.ground_truth("test")
            r = evaluate_detections(gt, autoloc_detections(al, source, "test"), tious=cfg.tious,
                                    protocol=cfg.protocol)
            gen_autoloc.add("AutoLoc", r)
            train_dets = autoloc_detections(al, source, "train")
            hold_dets = autoloc_detections(al, source, "holdout")
            from wtal_tf.data.detections import Detections
            rs = refine(cfg, source, seed_dir / "refine_autoloc", seed=seed, iterations=n_iter,
                        progress=progress,
                        from_detections=Detections.concatenate([train_dets, hold_dets]))
            gen_autoloc.add(f"RefineLoc ∘ AutoLoc (iteration {n_iter})", _Result(rs[-1].test_mAP))
            print(f"  seed {seed}: AutoLoc {100 * r.average_mAP:.1f} -> RefineLoc∘AutoLoc "
                  f"{100 * rs[-1].test_average_mAP:.1f}", flush=True)
    title = (f"RefineLoc per iteration ({cfg.refine.generator}, beta={cfg.refine.beta:g}, "
             f"S={cfg.refine.sample_fraction:g}) on {source.description}, {len(seeds)} seeds")
    per_iter.save(out / "refine_iterations", title)
    report = {"iterations": per_iter.to_dict()}
    if grid:
        report["grid"] = {f"{g}|{b:g}": v for (g, b), v in grid.items()}
        io_utils.write_text(out / "refine_grid.md", grid_markdown(grid, generators, betas,
                                                                 grid_iterations) + "\n")
    if with_autoloc:
        gen_autoloc.save(out / "refine_autoloc", f"RefineLoc ∘ AutoLoc on {source.description}")
        report["autoloc"] = gen_autoloc.to_dict()
    io_utils.write_json(out / "refine_study.json", report, indent=1)
    report["tables"] = (per_iter, grid, gen_autoloc)
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
