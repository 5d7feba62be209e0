"""Peak RSS of training the CAS model on 200 vs 2000 synthetic videos (D = 256).

Each size trains in a fresh process (peak RSS is per process).  Features
stream from disk, so memory should not grow with the number of videos.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Row

_BUILD = r"""
import sys
from wtal_tf.data import synthetic
synthetic.build(sys.argv[2], synthetic.SyntheticSpec(num_train=int(sys.argv[1]), num_test=2,
                                                     feature_dim=256), progress=False)
"""
_TRAIN = r"""
import json, sys
from wtal_tf.configs import get_config
from wtal_tf.data.source import RootSource
from wtal_tf.training.cas_trainer import train_cas
train_cas(get_config("synthetic_thumos_cas"), RootSource(sys.argv[1]), sys.argv[2], epochs=1,
          progress=False)
# VmHWM, not getrusage: Linux carries ru_maxrss over exec from the parent
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"rss_mb": int(hwm) / 1024}))
"""


def _peak(n: int, tmp: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", _BUILD, str(n), str(tmp / f"d{n}")], check=True,
                   capture_output=True, env=env)
    out = subprocess.run([sys.executable, "-c", _TRAIN, str(tmp / f"d{n}"), str(tmp / f"r{n}")],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Row]:
    small, large = (50, 500) if quick else (200, 2000)
    with tempfile.TemporaryDirectory() as tmp:
        a = _peak(small, Path(tmp))
        b = _peak(large, Path(tmp))
    return [Row("memory", f"peak RSS, training on {small} videos", a["rss_mb"], "MiB"),
            Row("memory", f"peak RSS, training on {large} videos", b["rss_mb"], "MiB"),
            Row("memory", f"peak RSS ratio {large} / {small} videos", b["rss_mb"] / a["rss_mb"],
                "", "<= 1.10")]
