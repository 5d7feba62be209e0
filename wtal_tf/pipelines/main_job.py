"""The main job behind ``python train.py``: each stage timed, each table printed."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from wtal_export.saved_model import export_run
from wtal_tf import io_utils
from wtal_tf.configs import get_config
from wtal_tf.data import synthetic
from wtal_tf.data.source import RootSource
from wtal_tf.evaluation import evaluate_detections
from wtal_tf.inference.loading import load_cas_model
from wtal_tf.inference.predict import predict_run
from wtal_tf.pipelines.reporting import MapRow
from wtal_tf.training.autoloc_task import train_autoloc
from wtal_tf.training.cas_task import train_cas
from wtal_tf.training.refineloc import refine


class Stages:
    """Times named stages and prints them as they finish and in a summary."""

    def __init__(self):
        self.times: list[tuple[str, float]] = []
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str):
        print(f"== {name}", flush=True)
        t = time.perf_counter()
        yield
        dt = time.perf_counter() - t
        self.times.append((name, dt))
        print(f"   {name}: {dt:.1f} s", flush=True)

    def summary(self) -> str:
        lines = ["stage times:"] + [f"  {n:<40} {t:7.1f} s" for n, t in self.times]
        lines.append(f"  {'total':<40} {time.perf_counter() - self.start:7.1f} s")
        return "\n".join(lines)


def run(out: Path, data=None, seed: int = 0, config_prefix: str = "synthetic_thumos"):
    """Every stage on ``data`` (default: the synthetic default, built under ``out``);
    returns ``{method: mAP row}`` (also in ``out/results.json``)."""
    stages = Stages()
    out.mkdir(parents=True, exist_ok=True)
    source = RootSource(_dataset_root(out, data, stages))
    gt = source.ground_truth("test")
    results = {}
    cfg = get_config(f"{config_prefix}_cas")
    with stages.stage("train CAS model (RefineLoc base, iteration 0)"):
        train_cas(cfg, source, out / "cas", seed=seed)
    with stages.stage("predict + evaluate CAS model"):
        results[f"CAS model ({_semantics(cfg)})"] = _evaluate_run(out / "cas", source, gt, cfg)

    al_cfg = get_config(f"{config_prefix}_autoloc")
    with stages.stage("train AutoLoc (frozen CAS model, OIC loss)"):
        train_autoloc(al_cfg, source, out / "cas", out / "autoloc", seed=seed)
    with stages.stage("predict + evaluate AutoLoc"):
        results["AutoLoc"] = _evaluate_run(out / "autoloc", source, gt, al_cfg)

    rl_cfg = get_config(f"{config_prefix}_refineloc")
    with stages.stage(f"RefineLoc refinement ({rl_cfg.refine.iterations} iterations, "
                      f"{rl_cfg.refine.generator}, beta={rl_cfg.refine.beta:g})"):
        base, _, _ = load_cas_model(out / "cas")
        iterations = refine(rl_cfg, source, out / "refineloc", seed=seed, base_model=base,
                            progress=True)
    for result in iterations[1:]:
        results[f"RefineLoc iteration {result.iteration} ({_semantics(rl_cfg)})"] = MapRow(
            result.test_mAP, rl_cfg.tious)

    with stages.stage("export AutoLoc as a SavedModel (TF Serving layout)"):
        print(f"   {export_run(out / 'autoloc', out / 'models', name='wtal', version=1)}")

    _print_tables(results)
    _write_results(out / "results.json", results)
    print(stages.summary())
    return results


def _dataset_root(out: Path, data, stages: Stages) -> Path:
    """``data``, or the synthetic default built (once) under ``out/data``."""
    if data is not None:
        return Path(data)
    root = out / "data" / "synthetic_thumos"
    with stages.stage(f"build synthetic default ({synthetic.DEFAULT_SPEC.version()})"):
        if not (root / "annotations.json").exists():
            synthetic.build(root, synthetic.DEFAULT_SPEC)
        else:
            print(f"   reusing {root}")
    return root


def _semantics(cfg) -> str:
    """The test-time segment semantics a row was scored with (issue 18)."""
    seg = cfg.test_segments
    return f"max_gap {seg.max_gap}, dilation {seg.dilation}, score margin {seg.score_margin}"


def _evaluate_run(run_dir: Path, source, gt, cfg):
    """Test detections of a run (written beside it) and their mAP."""
    detections = predict_run(run_dir, source, "test", out=run_dir / "detections.json")
    result = evaluate_detections(gt, detections, tious=cfg.tious)
    print(result.table())
    return result


def _write_results(path: Path, results) -> None:
    io_utils.write_json(path, {name: {"tious": [float(t) for t in row.tious],
                                      "mAP": [float(m) for m in row.mAP],
                                      "average_mAP": float(row.average_mAP)}
                               for name, row in results.items()}, indent=1)


def _print_tables(results):
    if not results:
        return
    first = next(iter(results.values()))
    width = max(len(k) for k in results)
    print("\nmAP (%) on the test split, tIoU " + " ".join(f"{t:.1f}" for t in first.tious))
    print(f"{'method':<{width}} " + " ".join(f"{t:>6.2f}" for t in first.tious) + "    avg")
    for name, row in results.items():
        print(f"{name:<{width}} " + " ".join(f"{100 * m:>6.2f}" for m in row.mAP) +
              f" {100 * row.average_mAP:>6.2f}")
