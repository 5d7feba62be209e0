"""``wtal ablate autoloc``: AutoLoc's §5.4 study (its Table 3) over several seeds.

Per seed: train the CAS model, then evaluate on the test split
  * CAS thresholding (the UntrimmedNet-style baseline),
  * OIC Selection (enumerate segments, select by OIC, NMS; Q1),
  * Inner-only loss (AutoLoc trained with L = -A_i; Q2),
  * Direct Optimization (B trained on each test video alone; Q3),
  * AutoLoc.
The test split is used for reporting only: nothing is selected on it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras

from wtal_tf.configs import ExperimentConfig
from wtal_tf.data.detections import write_detections
from wtal_tf.data.source import DataSource
from wtal_tf.evaluation import evaluate_detections
from wtal_tf.inference import baselines
from wtal_tf.inference.autoloc import autoloc_detections
from wtal_tf.models.autoloc import build_autoloc
from wtal_tf.pipelines.reporting import SeedTable
from wtal_tf.training.autoloc_task import train_autoloc
from wtal_tf.training.cas_task import train_cas


ROWS = ("CAS thresholding", "OIC Selection", "Inner-only loss", "Direct Optimization",
        "AutoLoc")


def run_autoloc_ablation(cfg: ExperimentConfig, source: DataSource, out, seeds=(0, 1, 2),
                         progress: bool = False, rows=ROWS) -> SeedTable:
    out = Path(out)
    gt = source.ground_truth("test")
    table = SeedTable(cfg.tious)

    def score(row, dets):
        write_detections(seed_dir / "detections" / f"{row.replace(' ', '_').lower()}.json",
                         dets)
        r = evaluate_detections(gt, dets, tious=cfg.tious, protocol=cfg.protocol)
        table.add(row, r)
        print(f"  seed {seed} {row:<20} mAP@0.5 {100 * r.mAP_at(0.5):5.1f}  "
              f"avg {100 * r.average_mAP:5.1f}", flush=True)

    for seed in seeds:
        seed_dir = out / f"seed_{seed}"
        cas_cfg = cfg.replace(method="cas")
        cas_model = train_cas(cas_cfg, source, seed_dir / "cas", seed=seed, progress=progress)
        model = train_autoloc(cfg, source, seed_dir / "cas", seed_dir / "autoloc", seed=seed,
                              progress=progress, cas_model=cas_model)
        if "CAS thresholding" in rows:
            score("CAS thresholding", baselines.cas_thresholding(
                model, source, "test", cfg.autoloc.baseline_threshold))
        if "OIC Selection" in rows:
            score("OIC Selection", baselines.oic_selection(model, source, "test", cfg.autoloc))
        if "Inner-only loss" in rows:
            inner_cfg = cfg.replace(autoloc=dataclasses.replace(cfg.autoloc, loss="inner_only"))
            inner = train_autoloc(inner_cfg, source, seed_dir / "cas", seed_dir / "inner_only",
                                  seed=seed, progress=progress, cas_model=cas_model)
            score("Inner-only loss", autoloc_detections(inner, source, "test"))
        if "Direct Optimization" in rows:
            keras.utils.set_random_seed(seed)
            fresh = build_autoloc(cfg, cas_model, source.feature_dim)
            score("Direct Optimization", baselines.direct_optimization(
                fresh, source, "test", cfg.autoloc, seed=seed))
        score("AutoLoc", autoloc_detections(model, source, "test"))
    table.save(out / "autoloc_ablation", f"AutoLoc §5.4 ablation on {source.description} "
               f"({len(seeds)} seeds, mean ± sd)")
    return table
