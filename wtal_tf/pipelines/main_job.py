"""The main job behind ``python train.py``: each stage timed, each table printed."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from wtal_tf import io_utils


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
    from wtal_tf.configs import get_config
    from wtal_tf.data import synthetic
    from wtal_tf.data.source import RootSource
    from wtal_tf.evaluation import evaluate_detections
    from wtal_tf.models.predict import predict_run
    from wtal_tf.training.autoloc_trainer import train_autoloc
    from wtal_tf.models.refineloc import refine
    from wtal_tf.training.cas_trainer import load_cas_model, train_cas

    stages = Stages()
    out.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = out / "data" / "synthetic_thumos"
        with stages.stage(f"build synthetic default ({synthetic.DEFAULT_SPEC.version()})"):
            if not (data / "annotations.json").exists():
                synthetic.build(data, synthetic.DEFAULT_SPEC)
            else:
                print(f"   reusing {data}")
    source = RootSource(data)
    gt = source.ground_truth("test")
    results = {}

    cfg = get_config(f"{config_prefix}_cas")
    with stages.stage("train CAS model (RefineLoc base, iteration 0)"):
        train_cas(cfg, source, out / "cas", seed=seed)
    with stages.stage("predict + evaluate CAS model"):
        dets = predict_run(out / "cas", source, "test", out=out / "cas" / "detections.json")
        results["CAS model (RefineLoc it. 0)"] = evaluate_detections(gt, dets, tious=cfg.tious)
        print(results["CAS model (RefineLoc it. 0)"].table())

    al_cfg = get_config(f"{config_prefix}_autoloc")
    with stages.stage("train AutoLoc (frozen CAS model, OIC loss)"):
        train_autoloc(al_cfg, source, out / "cas", out / "autoloc", seed=seed)
    with stages.stage("predict + evaluate AutoLoc"):
        dets = predict_run(out / "autoloc", source, "test",
                           out=out / "autoloc" / "detections.json")
        results["AutoLoc"] = evaluate_detections(gt, dets, tious=al_cfg.tious)
        print(results["AutoLoc"].table())

    rl_cfg = get_config(f"{config_prefix}_refineloc")
    with stages.stage(f"RefineLoc refinement ({rl_cfg.refine.iterations} iterations, "
                      f"{rl_cfg.refine.generator}, beta={rl_cfg.refine.beta:g})"):
        base, _, _ = load_cas_model(out / "cas")
        iterations = refine(rl_cfg, source, out / "refineloc", seed=seed, base_model=base,
                            progress=True)
    for it in iterations[1:]:
        results[f"RefineLoc iteration {it.iteration}"] = _MapRow(rl_cfg.tious, it.test_mAP)

    with stages.stage("export AutoLoc as a SavedModel (TF Serving layout)"):
        from wtal_export.saved_model import export_run

        path = export_run(out / "autoloc", out / "models", name="wtal", version=1)
        print(f"   {path}")

    _print_tables(results)
    io_utils.write_json(out / "results.json",
                        {k: {"tious": [float(t) for t in r.tious],
                             "mAP": [float(m) for m in r.mAP],
                             "average_mAP": float(r.average_mAP)} for k, r in results.items()},
                        indent=1)
    print(stages.summary())
    return results


class _MapRow:
    def __init__(self, tious, maps):
        import numpy as np

        self.tious = np.asarray(tious)
        self.mAP = np.asarray(maps)
        self.average_mAP = float(np.mean(maps))


def _print_tables(results):
    if not results:
        return
    first = next(iter(results.values()))
    width = max(len(k) for k in results)
    print("\nmAP (%) on the test split, tIoU " + " ".join(f"{t:.1f}" for t in first.tious))
    print(f"{'method':<{width}} " + " ".join(f"{t:>6.2f}" for t in first.tious) + "    avg")
    for name, r in results.items():
        print(f"{name:<{width}} " + " ".join(f"{100 * m:>6.2f}" for m in r.mAP) +
              f" {100 * r.average_mAP:>6.2f}")
