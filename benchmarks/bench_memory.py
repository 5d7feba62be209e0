"""Peak RSS of training on 200 vs 2000 synthetic videos (D = 256): the CAS model
(1 and 10 epochs) and AutoLoc (1 epoch, one video per step).

Each run trains in a fresh process (peak RSS is per process).  Features stream
from disk, so memory should not grow with the number of videos.  What did grow
(measured): TF's oneDNN kernels cache a primitive for every new tensor shape for
the life of the process, so a run that meets more distinct lengths holds more.
The fixes: the video-level pooling is a multiply and sum, not an ``einsum`` (a
batched matmul primitive per T); the CAS model computes on lengths rounded up to
a ladder of 16 per octave and AutoLoc's trainer pads videos to it (a bounded set
of shapes).  The 10-epoch runs show the
steady state, beside the same without buckets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Row

_REPO = Path(__file__).resolve().parents[1]

_BUILD = r"""
import sys
from wtal_tf.data import synthetic
synthetic.build(sys.argv[2], synthetic.SyntheticSpec(num_train=int(sys.argv[1]), num_test=2,
                                                     feature_dim=256), progress=False)
"""
_TRAIN = r"""
import dataclasses, json, sys
from benchmarks.common import peak_rss_mb
from wtal_tf.configs import get_config
from wtal_tf.data.source import RootSource
from wtal_tf.training.cas_task import train_cas
cfg = get_config("synthetic_thumos_cas")
cfg = cfg.replace(train=dataclasses.replace(cfg.train,
                                            length_buckets_per_octave=int(sys.argv[4])))
train_cas(cfg, RootSource(sys.argv[1]), sys.argv[2], epochs=int(sys.argv[3]), progress=False)
print(json.dumps({"rss_mb": peak_rss_mb()}))
"""


_AUTOLOC = r"""
import json, sys
from benchmarks.common import peak_rss_mb
from wtal_tf.configs import get_config
from wtal_tf.data.source import RootSource
from wtal_tf.training.autoloc_task import train_autoloc
train_autoloc(get_config("synthetic_thumos_autoloc"), RootSource(sys.argv[1]), sys.argv[2],
              sys.argv[3], epochs=1, progress=False)
print(json.dumps({"rss_mb": peak_rss_mb()}))
"""


def _build(n: int, tmp: Path) -> Path:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", _BUILD, str(n), str(tmp / f"d{n}")], check=True,
                   capture_output=True, env=env)
    return tmp / f"d{n}"


def _peak(script: str, *args) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                         text=True, check=True, env=env, cwd=_REPO)  # benchmarks importable
    return json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"]


def run(quick: bool = False) -> list[Row]:
    from wtal_tf.configs import get_config

    buckets = get_config("synthetic_thumos_cas").train.length_buckets_per_octave
    small, large = (50, 500) if quick else (200, 2000)
    settings = [(1, buckets)] if quick else [(1, buckets), (10, buckets), (10, 0)]
    rows = []

    def median_peak(script, *args, repeats):
        # a peak is one run's maximum and varies by +-3% between identical runs:
        # the median of a few (each in a fresh process) is the typical peak
        peaks = sorted(_peak(script, *args) for _ in range(repeats))
        return peaks[len(peaks) // 2], f" (median of {repeats})" if repeats > 1 else ""

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = {n: _build(n, tmp) for n in (small, large)}
        os.sync()
        for epochs, per_octave in settings:
            what = f"{epochs} epoch{'s' if epochs > 1 else ''}" + (
                f", {per_octave} length buckets/octave" if per_octave else ", no length buckets")
            repeats = 1 if quick or epochs > 1 else 3
            a, note = median_peak(_TRAIN, data[small], tmp / f"cas{small}", epochs, per_octave,
                                  repeats=repeats)
            b, _ = median_peak(_TRAIN, data[large], tmp / f"cas{large}", epochs, per_octave,
                               repeats=repeats)
            target = "<= 1.10" if per_octave == buckets else ""
            rows += [Row("memory", f"peak RSS, CAS model, {small} videos, {what}{note}", a,
                         "MiB"),
                     Row("memory", f"peak RSS, CAS model, {large} videos, {what}{note}", b,
                         "MiB"),
                     Row("memory", f"peak RSS ratio {large} / {small} videos, CAS model, {what}",
                         b / a, "", target)]
        # AutoLoc (one video per step, D = 256) on the 1-epoch CAS runs above
        repeats = 1 if quick else 3
        a, note = median_peak(_AUTOLOC, data[small], tmp / f"cas{small}", tmp / f"al{small}",
                              repeats=repeats)
        b, _ = median_peak(_AUTOLOC, data[large], tmp / f"cas{large}", tmp / f"al{large}",
                           repeats=repeats)
        rows += [Row("memory", f"peak RSS, AutoLoc, {small} videos, 1 epoch{note}", a, "MiB"),
                 Row("memory", f"peak RSS, AutoLoc, {large} videos, 1 epoch{note}", b, "MiB"),
                 Row("memory", f"peak RSS ratio {large} / {small} videos, AutoLoc, 1 epoch",
                     b / a, "", "<= 1.10")]
    return rows
