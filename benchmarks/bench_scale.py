"""At the real datasets' size: ActivityNet 1.2 and THUMOS'14 timelines at D = 2048.

    python -m benchmarks.run --only scale   # ~20 min; the first run generates 11 GiB

Synthetic features laid on the real videos' timelines (``wtal data synth
--timeline``): ActivityNet 1.2 with all 100 classes, its 4,702 training and
2,303 validation videos at a 0.64 s stride (I3D's 16 frames at 25 fps; about
857k training snippets, 7.0 GB of float32), and THUMOS'14's 200 + 212 videos
at 0.5 s (up to 3,347 snippets a video).  Generated once into a cache outside
the repository (``$WTAL_BENCH_CACHE``, default ``~/.cache/wtal_tf/bench_scale``),
with a progress bar; a root is regenerated only when the generator's version
string changes (its name carries a hash of it).

Every phase runs in a fresh process (peak RSS is per process): CAS-model
training (the trainer's input path and ``fit``), one RefineLoc iteration's
pseudo-label pass (the CAS model over the training videos, then the pseudo
labels), AutoLoc training (one epoch, one video per step, holdout validation
included), inference (detections on the test split) and evaluation (mAP).
Peak RSS is the kernel's VmHWM of that process; beside it the sampled peaks of
RssAnon (heap: tensors, arrays) and RssFile (mapped files: TF's shared
libraries, page-cache pages of memory-mapped reads), which tell which kind of
memory a peak is made of.

The 200-video figure is the same code on the first 200 training videos (by
id) of the same ActivityNet root: same D, same distribution of lengths, so
the ratios isolate the dataset's size.  Throughput is real snippets over the
fastest timed epoch (the first epoch traces and is not timed); the 200-video
run times six epochs, as each is 20x shorter (the full run times one).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, RssMonitor, proc_status_mb

_REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WTAL_SHARED_DATA", _REPO.parent / "shared" / "data"))
#: Where the generated roots are kept (never inside the repository).
CACHE_ENV = "WTAL_BENCH_CACHE"
#: The issue's bound on the CAS model's peak RSS at ActivityNet scale.
RSS_BOUND_MB = 1536.0
#: Videos of the CAS model's warm-up epoch (and of the small comparison run).
WARMUP_VIDEOS = 200
#: Comma-separated subsets of the datasets and phases to run (default: all).
DATASETS_ENV, PHASES_ENV = "WTAL_BENCH_SCALE_DATASETS", "WTAL_BENCH_SCALE_PHASES"
PHASE_GROUPS = ("cas", "read", "pseudo", "autoloc", "infer", "eval")


def selection(env: str, known) -> list[str]:
    """The comma-separated names in ``env`` (all of ``known`` when unset); an unknown
    name is an error, so a typo never writes an empty section over the measured one."""
    names = [n for n in os.environ.get(env, "").split(",") if n] or list(known)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"bench_scale: error: {env}={os.environ[env]!r}: unknown "
                         f"{', '.join(unknown)}; expected names from {', '.join(known)}")
    return names


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "wtal_tf" / "bench_scale")


def specs(quick: bool = False) -> dict:
    """The generated datasets: name -> (spec, CAS config, AutoLoc config, protocol)."""
    from wtal_tf.data import synthetic

    timelines = os.environ.get(synthetic.TIMELINE_DIR_ENV) or str(SHARED)
    if quick:  # a smoke of the code path: two THUMOS'14 classes at D = 64
        return {"thumos14": (synthetic.SyntheticSpec(
            timeline="thumos14", timeline_dir=timelines, feature_dim=64, classes=2),
            "thumos14_cas", "thumos14_refineloc", "thumos14_autoloc", "thumos14")}
    return {
        # 0.64 s: I3D's 16-frame snippets at 25 fps, the stride the 820k
        # snippets assume (the generator's own default, 1.28 s, halves them)
        "activitynet12": (synthetic.SyntheticSpec(
            timeline="activitynet12", timeline_dir=timelines, feature_dim=2048,
            seconds_per_snippet=0.64),
            "anet12_cas", "anet12_refineloc", "anet12_autoloc", "activitynet"),
        "thumos14": (synthetic.SyntheticSpec(
            timeline="thumos14", timeline_dir=timelines, feature_dim=2048),
            "thumos14_cas", "thumos14_refineloc", "thumos14_autoloc", "thumos14"),
    }


def ensure_root(name: str, spec) -> Path:
    """The cached root of ``spec``, generated (with a progress bar) if absent."""
    from wtal_tf.data import synthetic

    digest = hashlib.sha256(spec.version().encode()).hexdigest()[:10]
    root = cache_dir() / f"{name}-D{spec.feature_dim}-{digest}"
    if not (root / "annotations.json").is_file():
        print(f"generating {root} (once)", file=sys.stderr, flush=True)
        synthetic.build(root, spec, progress=True)
        os.sync()  # flushed now, not while a later phase is timed
    return root


def features_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in (root / "features").iterdir())


# -- phases: each runs in its own process (``python -m benchmarks.bench_scale PHASE``) --

def _reads_into_heap(heap: bool) -> None:
    """``heap``: read videos the way the pipeline did before this benchmark (into
    glibc's heap, never trimmed), to measure what reading into maps saves."""
    from wtal_tf.data import pipeline

    if heap:
        pipeline.UNPOOLED_READS, pipeline.RELEASE_HEAP_EVERY = False, 0


def phase_cas(root, config: str, videos: int, epochs: int, run_dir=None,
              heap: bool = False) -> dict:
    """Trains the CAS model ``epochs`` timed epochs on the first ``videos`` training
    videos (0 = all, train + holdout), after a warm-up epoch on the first
    ``WARMUP_VIDEOS``.  Then one pass over the input pipeline alone.  Writes a run
    directory (for the later phases) if ``run_dir``."""
    import keras

    from benchmarks.bench_cas import cas_batches
    from wtal_tf.configs import get_config
    from wtal_tf.data.source import RootSource
    from wtal_tf import runs
    from wtal_tf.models.cas_model import build_cas_model
    from wtal_tf.training.runner import keras_verbosity

    _reads_into_heap(heap)
    source = RootSource(root)
    cfg = get_config(config)
    ids = (source.video_ids("train") + source.video_ids("holdout"))[:videos or None]
    batch = cfg.train.batch_size
    model = build_cas_model(cfg, len(source.classes), source.feature_dim)
    model.compile(optimizer=keras.optimizers.Adam(cfg.train.learning_rate))
    warm = ids[:WARMUP_VIDEOS]
    # the warm-up (tracing, a kernel per length bucket) on the same videos for
    # every size, so that every timed epoch is a steady-state one
    model.fit(cas_batches(source, warm, batch, 0, 1), epochs=1,
              steps_per_epoch=-(-len(warm) // batch), verbose=0, shuffle=False)
    steps = -(-len(ids) // batch)

    class Timer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    timer = Timer()
    model.fit(cas_batches(source, ids, batch, 0, epochs), epochs=epochs, steps_per_epoch=steps,
              callbacks=[timer], verbose=keras_verbosity(True), shuffle=False)
    start = time.perf_counter()
    for _ in cas_batches(source, ids, batch, 1, 2):
        pass
    read = time.perf_counter() - start
    if run_dir is not None:
        runs.write_run(run_dir, cfg, source.to_dict(), seed=0, epochs=epochs)
        runs.save_weights(model, Path(run_dir) / runs.WEIGHTS)
    return {"videos": len(ids), "snippets": sum(source.num_snippets(v) for v in ids),
            "epoch_s": timer.seconds, "read_s": read}


def phase_read(root, videos: int, heap: bool) -> dict:
    """One epoch of the CAS model's input pipeline alone over the first ``videos``
    training videos (``heap``: see :func:`_reads_into_heap`)."""
    from benchmarks.bench_cas import cas_batches
    from wtal_tf.configs import get_config
    from wtal_tf.data.source import RootSource

    _reads_into_heap(heap)
    source = RootSource(root)
    ids = (source.video_ids("train") + source.video_ids("holdout"))[:videos or None]
    start = time.perf_counter()
    for _ in cas_batches(source, ids, get_config("anet12_cas").train.batch_size, 0, 1):
        pass
    return {"videos": len(ids), "seconds": time.perf_counter() - start}


def phase_pseudo(root, config: str, cas_run) -> dict:
    """One RefineLoc iteration's pseudo-label pass: the CAS model over every training
    video, then the pseudo labels of the next iteration."""
    from wtal_tf.configs import get_config
    from wtal_tf.data.source import RootSource
    from wtal_tf.inference.loading import load_cas_model
    from wtal_tf.training.refineloc import make_pseudo_labels

    source = RootSource(root)
    model, _, _ = load_cas_model(cas_run)
    start = time.perf_counter()
    make_pseudo_labels(get_config(config), source, model, eta=0, seed=0)
    return {"videos": len(source.video_ids("train")) + len(source.video_ids("holdout")),
            "seconds": time.perf_counter() - start}


def phase_autoloc(root, config: str, cas_run, out) -> dict:
    """One epoch of AutoLoc training (the trainer, holdout validation included)."""
    from wtal_tf.configs import get_config
    from wtal_tf.data.source import RootSource
    from wtal_tf.training.autoloc_task import train_autoloc

    source = RootSource(root)
    start = time.perf_counter()
    train_autoloc(get_config(config), source, cas_run, out, epochs=1, progress=True)
    run = json.loads((Path(out) / "run.json").read_text())
    return {"steps": len(source.video_ids("train")), "fit_s": run["train_seconds"],
            "seconds": time.perf_counter() - start}


def phase_infer(root, cas_run, out) -> dict:
    """Detections of the CAS model (RefineLoc's inference) on the test split."""
    from wtal_tf.data.source import RootSource
    from wtal_tf.inference.predict import predict_run

    source = RootSource(root)
    start = time.perf_counter()
    dets = predict_run(cas_run, source, "test", out=out, progress=True)
    return {"videos": len(source.video_ids("test")), "seconds": time.perf_counter() - start,
            "detections": len(dets)}


def phase_eval(root, detections, protocol: str) -> dict:
    """mAP of the detections against the test split's ground truth."""
    from wtal_tf.data.detections import read_detections
    from wtal_tf.data.source import RootSource
    from wtal_tf.evaluation import evaluate_detections

    source = RootSource(root)
    dets = read_detections(detections)
    gt = source.ground_truth("test")
    start = time.perf_counter()
    result = evaluate_detections(gt, dets, protocol=protocol)
    return {"seconds": time.perf_counter() - start, "average_mAP": result.average_mAP,
            "detections": len(dets)}


PHASES = {"cas": phase_cas, "read": phase_read, "pseudo": phase_pseudo, "autoloc": phase_autoloc,
          "infer": phase_infer, "eval": phase_eval}


def _child(argv) -> int:
    """``python -m benchmarks.bench_scale PHASE OUT_JSON ARGS_JSON``: runs one phase
    and writes its figures with this process's memory peaks."""
    phase, out, args = argv[0], argv[1], json.loads(argv[2])
    with RssMonitor() as mem:
        import keras  # noqa: F401 -- the framework's own footprint, before any data
        framework = proc_status_mb()
        result = PHASES[phase](**args)
    result["mem"] = mem.peaks()
    result["framework_mb"] = framework.get("VmRSS", 0.0)
    from wtal_tf import io_utils
    io_utils.write_json(out, result)
    return 0


def run_phase(phase: str, **kwargs) -> dict:
    """One phase in a fresh process; its progress goes to stderr."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        args = json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in kwargs.items()})
        print(f"[scale] {phase} {args}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "benchmarks.bench_scale", phase, str(out), args],
                       check=True, env=env, cwd=_REPO, stdout=sys.stderr)
        result = json.loads(out.read_text())
        print(f"[scale] {phase} -> {json.dumps(result)}", file=sys.stderr, flush=True)
        return result


def _mem_rows(bench: str, what: str, r: dict) -> list[Row]:
    m = r["mem"]
    return [Row(bench, f"{what}: peak RSS (VmHWM)", m["VmHWM"], "MiB"),
            Row(bench, f"{what}: peak RssAnon / RssFile (sampled)",
                f"{m.get('RssAnon', 0):.0f} / {m.get('RssFile', 0):.0f}", "MiB")]


def _read_rows(b: str, root: Path, n: int) -> list[Row]:
    """Peak RSS of the input pipeline alone, 200 vs all videos, reading into glibc's
    heap (as before) and into maps of their own with trims (now)."""
    rows = []
    for heap, how in ((True, "videos in the heap (before)"),
                      (False, "videos in own maps (now)")):
        small = run_phase("read", root=root, videos=200, heap=heap)["mem"]["VmHWM"]
        full = run_phase("read", root=root, videos=0, heap=heap)["mem"]["VmHWM"]
        rows += [Row(b, f"input pipeline alone, peak RSS 200 / {n} videos, {how}",
                     f"{small:.0f} / {full:.0f}", "MiB"),
                 Row(b, f"input pipeline alone, peak RSS ratio {n} / 200 videos, {how}",
                     full / small, "")]
    return rows


def _dataset_rows(name: str, root: Path, cfgs, quick: bool, tmp: Path) -> list[Row]:
    cas_cfg, refine_cfg, autoloc_cfg, protocol = cfgs
    b = f"scale {name}"
    size = features_bytes(root)
    cas_run, al_run, dets = tmp / f"{name}_cas", tmp / f"{name}_al", tmp / f"{name}_dets.json"
    want = set(selection(PHASES_ENV, PHASE_GROUPS))
    full = run_phase("cas", root=root, config=cas_cfg, videos=0, epochs=1, run_dir=cas_run)
    timed = full["epoch_s"]
    rows = [Row(b, "training videos (train + holdout)",
                float(full["videos"]), ""),
            Row(b, "training snippets", float(full["snippets"]), ""),
            Row(b, "features on disk (all splits, float32 .npy)", size / 2 ** 30, "GiB"),
            Row(b, f"CAS model: epoch time (best of {len(timed)}, after a warm-up)",
                min(timed), "s"),
            Row(b, "CAS model: training throughput (real snippets)",
                full["snippets"] / min(timed), "snippets/s"),
            Row(b, "CAS model: input pipeline alone, epoch read time", full["read_s"], "s"),
            Row(b, "CAS model: input throughput / training consumption",
                min(timed) / full["read_s"], "", ">= 2"),
            Row(b, "framework alone (RSS after importing TF + Keras)", full["framework_mb"],
                "MiB"),
            *_mem_rows(b, "CAS model", full)]
    if full["videos"] > 200 and not quick:
        small = run_phase("cas", root=root, config=cas_cfg, videos=WARMUP_VIDEOS, epochs=2)
        s_timed = small["epoch_s"]
        rows += [Row(b, f"CAS model, first 200 videos: epoch time (best of {len(s_timed)})",
                     min(s_timed), "s"),
                 *_mem_rows(b, "CAS model, first 200 videos", small),
                 Row(b, f"CAS model: snippets/s ratio {full['videos']} / 200 videos",
                     (full["snippets"] / min(timed)) / (small["snippets"] / min(s_timed)), "",
                     ">= 0.9"),
                 Row(b, f"CAS model: peak RSS ratio {full['videos']} / 200 videos",
                     full["mem"]["VmHWM"] / small["mem"]["VmHWM"], "", "<= 1.10"),
                 Row(b, f"CAS model: peak RSS, {full['videos']} videos, vs the bound",
                     full["mem"]["VmHWM"], "MiB", f"<= {RSS_BOUND_MB:.0f} MiB")]
        before = run_phase("cas", root=root, config=cas_cfg, videos=200, epochs=1, heap=True)
        rows += _mem_rows(b, "CAS model, first 200 videos, videos in the heap (before)",
                          before)
        if "read" in want:
            rows += _read_rows(b, root, full["videos"])
    if "pseudo" in want:
        rows += _pseudo_rows(b, root, refine_cfg, cas_run)
    if "autoloc" in want:
        rows += _autoloc_rows(b, root, autoloc_cfg, cas_run, al_run)
    if "infer" in want:
        rows += _infer_rows(b, root, cas_run, dets)
    if "eval" in want and dets.exists():
        rows += _eval_rows(b, root, dets, protocol)
    return rows


def _pseudo_rows(b, root, refine_cfg, cas_run):
    pseudo = run_phase("pseudo", root=root, config=refine_cfg, cas_run=cas_run)
    return [Row(b, f"RefineLoc pseudo-label pass ({pseudo['videos']} videos)",
                 pseudo["seconds"], "s"),
            *_mem_rows(b, "pseudo-label pass", pseudo)]


def _autoloc_rows(b, root, autoloc_cfg, cas_run, al_run):
    al = run_phase("autoloc", root=root, config=autoloc_cfg, cas_run=cas_run, out=al_run)
    return [Row(b, f"AutoLoc training: steps/s (1 epoch, {al['steps']} steps, holdout "
                    "validation included)", al["steps"] / al["fit_s"], "steps/s"),
            *_mem_rows(b, "AutoLoc training", al)]


def _infer_rows(b, root, cas_run, dets):
    infer = run_phase("infer", root=root, cas_run=cas_run, out=dets)
    return [Row(b, f"inference, CAS model on {infer['videos']} test videos",
                infer["videos"] / infer["seconds"], "videos/s"),
            *_mem_rows(b, "inference", infer)]


def _eval_rows(b, root, dets, protocol):
    ev = run_phase("eval", root=root, detections=dets, protocol=protocol)
    return [Row(b, f"evaluation, {ev['detections']} detections", ev["seconds"], "s"),
            *_mem_rows(b, "evaluation", ev)]


def run(quick: bool = False) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        datasets = specs(quick)
        chosen = selection(DATASETS_ENV, datasets) if not quick else list(datasets)
        for name, (spec, *cfgs) in datasets.items():
            if name not in chosen:
                continue
            root = ensure_root(name + ("-quick" if quick else ""), spec)
            rows += _dataset_rows(name, root, cfgs, quick, Path(tmp))
    return rows


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
