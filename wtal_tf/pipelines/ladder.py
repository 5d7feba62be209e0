"""``wtal ablate ladder``: every method beside its baselines and a supervised upper bound.

One rung of the difficulty ladder (a dataset root) per call; per seed:

* the fully supervised reference (snippet classifier on temporal labels),
* RefineLoc's base CAS model (iteration 0) with RefineLoc's segment prediction
  and with the multi-threshold post-processing,
* the segment prediction's test-time semantics side by side: the CAS model,
  the supervised reference and RefineLoc's final iteration with their
  configs' (a score margin, ``configs.experiments._SCORE_MARGIN``) and with
  RL §3.1's runs,
* CAS thresholding (AutoLoc §5.4's UntrimmedNet-style baseline),
* AutoLoc on that CAS model, paper preset, detected with each kind of
  test-time BatchNorm statistics (the same trained weights), and the
  release preset,
* RefineLoc's iterations, paper and release presets (the release trains its
  own base model, with the release's head and input stream).

The test split is used for reporting only: nothing here is selected on it.
Each row also records the CAS model's test video top-1 accuracy (the
acceptance conditions depend on it).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from wtal_tf import io_utils
from wtal_tf.configs import get_config
from wtal_tf.data.source import DataSource
from wtal_tf.errors import WtalError
from wtal_tf.evaluation import evaluate_detections
from wtal_tf.inference import baselines
from wtal_tf.inference.autoloc import autoloc_detections
from wtal_tf.inference.cas import cas_outputs, outputs_to_detections
from wtal_tf.models.autoloc import set_bn_statistics
from wtal_tf.pipelines.reporting import MapRow, SeedTable
from wtal_tf.training.autoloc_task import bn_batches, train_autoloc
from wtal_tf.training.cas_task import train_cas
from wtal_tf.training.refineloc import load_iteration, read_refine, refine


BN_MODES = ("keras", "population", "video_average", "video")
#: The rows a finished seed stores; 3: every segment prediction row uses its
#: config's test semantics (issue 18; 1 = RL §3.1's runs, 2 = the release's
#: widening for the CAS model), so seeds of two formats do not mix in one table.
ROWS_VERSION = 3
#: The release's refinement schedule (up to 50 iterations) is capped here, for cost.
LADDER_MAX_ITERATIONS = 3


def video_top1(outputs) -> float:
    """Fraction of videos whose top-scored class ŷ is one of their labels."""
    hits = [bool(o.labels[int(np.argmax(o.video_scores))] > 0) for o in outputs.values()
            if o.labels.sum() > 0]
    return float(np.mean(hits)) if hits else float("nan")


def paper_semantics(seg_cfg):
    """RefineLoc's segment prediction with RL §3.1's runs (gaps of one snippet
    bridged, each run scored over itself), whatever the config's semantics."""
    return dataclasses.replace(seg_cfg, max_gap=1, dilation=0, score_margin=0)


def run_ladder(dataset: str, source: DataSource, out, *, seeds=(0, 1, 2),
               progress: bool = False, command: str = "", epochs: int | None = None,
               iterations: int | None = None) -> tuple[SeedTable, dict]:
    """Runs every method of ``<dataset>_*`` on one rung; writes ``out/ladder.{md,json,png}``.

    ``epochs`` / ``iterations`` override the configs' (smoke tests only).
    """

    out = Path(out)
    cas_cfg = get_config(f"{dataset}_cas")
    gt = source.ground_truth("test")
    table = SeedTable(cas_cfg.tious)
    extra: dict = {"video_top1": {}, "seeds": list(seeds), "command": command}
    multi = dataclasses.replace(cas_cfg.test_segments, method="multi_threshold")

    rows: dict = {}  # the current seed's rows: name -> mAP per tIoU (fractions)

    def add(row, maps):
        rows[row] = [float(m) for m in maps]
        table.add(row, MapRow(maps))

    def score(row, dets, seed):
        r = evaluate_detections(gt, dets, tious=cas_cfg.tious, protocol=cas_cfg.protocol)
        add(row, r.mAP)
        print(f"  seed {seed} {row:<46} mAP@0.5 {100 * r.mAP_at(0.5):5.1f}  "
              f"avg {100 * r.average_mAP:5.1f}", flush=True)

    def score_outputs(row, outputs, seg_cfg, seed):
        score(row, outputs_to_detections(outputs, source, seg_cfg), seed)

    for seed in seeds:
        seed_dir = out / f"seed_{seed}"
        done = seed_dir / "ladder_rows.json"
        if done.exists():  # a finished seed of an earlier call: its rows as they were
            saved = json.loads(done.read_text())
            if saved.get("rows_version", 1) != ROWS_VERSION:
                raise WtalError(f"a finished seed was written by an older ladder (rows format "
                                f"{saved.get('rows_version', 1)}, expected {ROWS_VERSION}: "
                                f"its segment prediction rows use other test semantics); "
                                f"use a new --out or remove {seed_dir}", path=done)
            for row, maps in saved["rows"].items():
                table.add(row, MapRow(maps))
            for key, value in saved["video_top1"].items():
                extra["video_top1"].setdefault(key, []).append(value)
            continue
        rows = {}
        top1: dict = {}
        sup_cfg = get_config(f"{dataset}_supervised")
        sup = train_cas(sup_cfg, source, seed_dir / "supervised", seed=seed, progress=progress,
                        epochs=epochs)
        sup_out = cas_outputs(sup, source, "test")
        score_outputs("Supervised reference (segment prediction)", sup_out,
                      sup_cfg.test_segments, seed)
        score_outputs("Supervised reference (segment prediction, paper semantics)", sup_out,
                      paper_semantics(sup_cfg.test_segments), seed)
        score_outputs("Supervised reference (multi-threshold)", sup_out, multi, seed)

        cas = train_cas(cas_cfg, source, seed_dir / "cas", seed=seed, progress=progress,
                        epochs=epochs)
        outputs = cas_outputs(cas, source, "test")
        top1["CAS model"] = video_top1(outputs)
        score_outputs("CAS model (segment prediction)", outputs, cas_cfg.test_segments, seed)
        score_outputs("CAS model (segment prediction, paper semantics)", outputs,
                      paper_semantics(cas_cfg.test_segments), seed)
        score_outputs("CAS model (multi-threshold)", outputs, multi, seed)

        al_cfg = get_config(f"{dataset}_autoloc")
        keras_cfg = al_cfg.replace(autoloc=dataclasses.replace(al_cfg.autoloc,
                                                               bn_statistics="keras"))
        autoloc = train_autoloc(keras_cfg, source, seed_dir / "cas", seed_dir / "autoloc",
                                seed=seed, progress=progress, cas_model=cas)
        score("CAS thresholding", baselines.cas_thresholding(
            autoloc, source, "test", al_cfg.autoloc.baseline_threshold), seed)
        for mode in BN_MODES:  # the same trained weights, each kind of statistics
            set_bn_statistics(autoloc, mode, bn_batches(
                source, al_cfg.autoloc.length_buckets_per_octave))
            default = " = default" if mode == al_cfg.autoloc.bn_statistics else ""
            score(f"AutoLoc paper preset (BN: {mode}{default})",
                  autoloc_detections(autoloc, source, "test"), seed)
        rel_cfg = get_config(f"{dataset}_autoloc_release")
        release = train_autoloc(rel_cfg, source, seed_dir / "cas", seed_dir / "autoloc_release",
                                seed=seed, progress=progress, cas_model=cas)
        score("AutoLoc release preset", autoloc_detections(release, source, "test"), seed)

        for preset in ("", "_release"):
            cfg = get_config(f"{dataset}_refineloc{preset}")
            name = "RefineLoc " + ("release" if preset else "paper") + " preset"
            run = seed_dir / f"refineloc{preset}"
            # the release's schedule (up to 50 iterations, early stopping) is capped at
            # the paper's 3 here, for cost; its holdout selection still picks among them
            cap = iterations if iterations is not None else (
                min(cfg.refine.iterations, LADDER_MAX_ITERATIONS) if preset else None)
            results = refine(cfg, source, run, seed=seed, base_model=None if preset else cas,
                             progress=progress, epochs=epochs, iterations=cap)
            for res in results:
                add(f"{name}, iteration {res.iteration}", res.test_mAP)
                print(f"  seed {seed} {name}, iteration {res.iteration:<11} "
                      f"avg {100 * res.test_average_mAP:5.1f}", flush=True)
            chosen = read_refine(run)["selected_iteration"]
            which = "selected" if cfg.refine.iteration_selection == "holdout" else "final"
            label = f"{name}, {which} iteration"
            add(label, next(r.test_mAP for r in results if r.iteration == chosen))
            final_out = cas_outputs(load_iteration(run, chosen), source, "test")
            if preset:
                top1["RefineLoc release base"] = video_top1(
                    cas_outputs(load_iteration(run, 0), source, "test"))
            top1[label] = video_top1(final_out)
            score_outputs(f"{label} (multi-threshold)", final_out,
                          dataclasses.replace(cfg.test_segments, method="multi_threshold"),
                          seed)
            if not preset:  # the release preset has the release's own semantics
                score_outputs(f"{label} (paper semantics)", final_out,
                              paper_semantics(cfg.test_segments), seed)
        for key, value in top1.items():
            extra["video_top1"].setdefault(key, []).append(value)
        io_utils.write_json(done, {"rows": rows, "video_top1": top1,
                                   "rows_version": ROWS_VERSION}, indent=1)
    title = (f"{source.description}: methods, baselines and the supervised reference "
             f"({len(seeds)} seeds, mean ± sd)" + (f" — `{command}`" if command else ""))
    table.save(out / "ladder", title)
    summary = dict(extra, table=table.to_dict())
    io_utils.write_json(out / "ladder_extra.json", summary, indent=1)
    return table, summary
