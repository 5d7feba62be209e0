"""Killed processes: a resumed training ends where an uninterrupted one does; an
interrupted export leaves the previous one intact."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import make_root

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _wtal(*args):
    return [sys.executable, "-m", "wtal_tf", *map(str, args)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume") / "data"
    make_root(root, num_train=24, num_test=2, dim=16, min_snippets=20, max_snippets=60)
    return root


def _weights(run_dir):
    import h5py

    out = {}
    with h5py.File(run_dir / "model.weights.h5", "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if hasattr(obj, "shape") else None)
    return out


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(data, tmp_path):
    common = ["train", "cas", "--config", "synthetic_thumos_cas", "--data", data,
              "--epochs", 12, "--deterministic"]
    full = tmp_path / "full"
    subprocess.run(_wtal(*common, "--run-dir", full), check=True, env=ENV, timeout=600,
                   capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_wtal(*common, "--run-dir", killed), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed / "checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if json.loads(state.read_text())["next_epoch"] >= 4:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = json.loads(state.read_text())["next_epoch"]
    assert 4 <= stopped_at < 12, "the process should die mid-run"
    assert not (killed / "model.weights.h5").exists()
    subprocess.run(_wtal(*common, "--run-dir", killed, "--resume"), check=True, env=ENV,
                   timeout=600, capture_output=True)
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    run = json.loads((killed / "run.json").read_text())
    assert run["resumed_from_epoch"] == stopped_at
    hist_a = json.loads((full / "history.json").read_text())
    hist_b = json.loads((killed / "history.json").read_text())
    assert len(hist_b["loss"]) == 12
    np.testing.assert_allclose(hist_a["loss"], hist_b["loss"], rtol=1e-6)


@pytest.mark.slow
def test_killed_export_leaves_previous_export_intact(data, tmp_path):
    run = tmp_path / "run"
    subprocess.run(_wtal("train", "cas", "--config", "synthetic_thumos_cas", "--data", data,
                         "--epochs", 2, "--run-dir", run), check=True, env=ENV, timeout=600,
                   capture_output=True)
    base = tmp_path / "models"
    subprocess.run(_wtal("export", run, "--out", base, "--name", "m", "--version", 1),
                   check=True, env=ENV, timeout=600, capture_output=True)
    before = sorted(p.relative_to(base) for p in (base / "m" / "1").rglob("*"))
    saved = (base / "m" / "1" / "saved_model.pb").read_bytes()
    # overwrite version 1, killed midway: wait until the temporary folder appears
    proc = subprocess.Popen(_wtal("export", run, "--out", base, "--name", "m", "--version", 1,
                                  "--overwrite"),
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list((base / "m").glob(".1.*.tmp")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = sorted(p.relative_to(base) for p in (base / "m" / "1").rglob("*"))
    assert after == before
    assert (base / "m" / "1" / "saved_model.pb").read_bytes() == saved
    import tensorflow as tf
    m = tf.saved_model.load(str(base / "m" / "1"))
    assert "serving_default" in m.signatures

