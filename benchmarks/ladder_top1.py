"""The difficulty ladder's rungs: size and the CAS model's test video-level top-1.

    python -m benchmarks.ladder_top1 [--rungs default hard thumos14_hard anet12_20_hard]

Builds each rung with ``wtal data synth`` (seed 0), trains ``wtal train cas``
with its synthetic config (50 epochs), and prints a Markdown table: videos per
split, snippets, and the share of test videos whose top-scoring class
(``video_scores`` argmax) is one of their labels.  This is the number the
``hard`` rung was calibrated on (README "Difficulty ladder"); no localization
metric is looked at.  Timelines read ``$WTAL_TIMELINE_DIR`` or ``../shared/data``.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

import numpy as np

#: name -> (``wtal data synth`` flags, CAS config)
RUNGS = {
    "default": ([], "synthetic_thumos_cas"),
    "hard": (["--rung", "hard"], "synthetic_thumos_cas"),
    "thumos14": (["--timeline", "thumos14"], "synthetic_thumos_cas"),
    "thumos14_hard": (["--timeline", "thumos14", "--rung", "hard"], "synthetic_thumos_cas"),
    "anet12_20": (["--timeline", "activitynet12", "--classes", "20"], "synthetic_anet_cas"),
    "anet12_20_hard": (["--timeline", "activitynet12", "--classes", "20", "--rung", "hard"],
                       "synthetic_anet_cas"),
    "anet12_20_hard_noise08": (["--timeline", "activitynet12", "--classes", "20", "--rung",
                                "hard", "--noise", "0.8"], "synthetic_anet_cas"),
}


def video_top1(run_dir, root) -> tuple[float, int]:
    """Share of test videos whose argmax video score is one of their labels."""
    from wtal_tf.data.source import open_source
    from wtal_tf.inference.cas import cas_outputs
    from wtal_tf.inference.loading import load_cas_model

    model, _, _ = load_cas_model(run_dir)
    out = cas_outputs(model, open_source(str(root), None, None), "test")
    hits = [o.labels[int(np.argmax(o.video_scores))] > 0 for o in out.values()]
    return float(np.mean(hits)), len(hits)


def size(root) -> str:
    from wtal_tf.data.interchange import open_root

    r = open_root(root)
    subsets = collections.Counter(v.subset for v in r.annotations.videos.values())
    snippets = sum(np.load(r.features.path(v), mmap_mode="r").shape[0]
                   for v in r.annotations.videos)
    return " / ".join(f"{n} {s}" for s, n in sorted(subsets.items())), snippets


def main(argv=None):
    from wtal_tf.cli.main import main as wtal

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rungs", nargs="+", default=list(RUNGS), choices=list(RUNGS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("| rung | synth flags | videos | snippets | CAS config | test video top-1 | s |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.rungs:
            flags, config = RUNGS[name]
            root, run = Path(tmp) / name, Path(tmp) / f"run_{name}"
            start = time.perf_counter()
            assert wtal(["data", "synth", str(root), "--seed", str(args.seed), *flags]) == 0
            assert wtal(["train", "cas", "--config", config, "--data", str(root),
                         "--run-dir", str(run)]) == 0
            top1, n = video_top1(run, root)
            videos, snippets = size(root)
            seconds = time.perf_counter() - start
            print(f"| {name} | `{' '.join(flags) or '(none)'}` | {videos} | {snippets} | "
                  f"{config} | {top1:.2f} ({n} videos) | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
